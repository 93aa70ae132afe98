"""BigGAN and BigGAN-deep (Brock et al. 2019, https://arxiv.org/abs/1809.11096): config, networks, model."""
