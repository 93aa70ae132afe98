"""CGAN (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784): config, networks, model."""
