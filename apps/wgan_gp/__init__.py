"""WGAN-GP (Gulrajani et al. 2017, https://arxiv.org/abs/1704.00028): config, networks, model."""
