"""ProGAN: progressive growing of GANs (Karras et al. 2018)."""
