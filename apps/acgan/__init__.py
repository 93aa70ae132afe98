"""AC-GAN (Odena, Olah & Shlens 2017, https://arxiv.org/abs/1610.09585): config, networks, model."""
