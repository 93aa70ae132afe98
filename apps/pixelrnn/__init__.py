"""PixelRNN and PixelCNN: pixel recurrent neural networks (van den Oord, Kalchbrenner & Kavukcuoglu 2016)."""
