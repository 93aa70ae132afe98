"""ADC-GAN (Hou et al. 2022, https://arxiv.org/abs/2107.10060): config, networks, model."""
