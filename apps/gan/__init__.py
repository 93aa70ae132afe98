"""GAN (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661): config, networks, model."""
