"""StyleGAN: a style-based generator architecture for GANs (Karras, Laine & Aila 2019)."""
