"""CoGAN (Liu & Tuzel 2016, https://arxiv.org/abs/1606.07536): config, pairing data, networks, model, export."""
