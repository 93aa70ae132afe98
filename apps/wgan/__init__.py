"""WGAN (Arjovsky et al. 2017, https://arxiv.org/abs/1701.07875): config, networks, model."""
