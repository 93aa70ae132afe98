"""SAGAN (Zhang et al. 2019, https://arxiv.org/abs/1805.08318): config, networks, model."""
