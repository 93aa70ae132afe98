"""LSGAN (Mao et al. 2017, https://arxiv.org/abs/1611.04076): config, networks, model."""
