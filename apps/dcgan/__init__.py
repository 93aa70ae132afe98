"""DCGAN (Radford et al. 2015, https://arxiv.org/abs/1511.06434): config, networks, model."""
