"""DiscoGAN (Kim et al. 2017, https://arxiv.org/abs/1703.05192): config, networks, model, train, export, translate."""
