"""Hyper-parameters of PixelRNN and PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016,
"Pixel Recurrent Neural Networks", ICML, https://arxiv.org/abs/1601.06759).

Defaults are the paper's CIFAR-10 models where it states them:

- ``model``: "diagonal_bilstm" (the paper's best, 3.00 bits/dim on CIFAR-10),
  "row_lstm" (3.07) or "pixelcnn" (3.14);
- ``num_layers`` 0 picks the paper's depth for the model: 12 layers for the two
  LSTMs, 15 for PixelCNN (the first 7x7 mask-A convolution counts as a layer;
  `apps.pixelrnn.networks.paper_defaults`); ``hidden`` h = 128 (the recurrent
  layers have h units, the residual stream 2h features); ``output_features``
  1024 for the first of the two ReLU + 1x1 output layers (section 4, as recalled:
  the text could not be checked offline);
- a 256-way softmax per sub-pixel (``output="softmax256"``) with the R -> G -> B
  dependencies within a pixel, or a sigmoid per pixel for binarised MNIST
  (``output="bernoulli"``, 1 channel; pixels binarised at 0.5 as they are read);
- RMSProp (section 5.2: "RMSProp gives best convergence performance and is used
  for all experiments"); the paper sets the learning rate per dataset by hand and
  does not print it: 1e-3 here, Keras' RMSProp rho 0.9;
- batch size 16 ("for smaller datasets such as MNIST and CIFAR-10 we use smaller
  batch sizes of 16 images as this seems to regularize the models");
- no augmentation and no preprocessing beyond scaling the input to [-1, 1].

Beyond the paper: an exponential moving average of the weights (``ema_decay``,
off by default) for sampling and evaluation.
"""

from __future__ import annotations

import dataclasses

MODELS = ("diagonal_bilstm", "row_lstm", "pixelcnn")
OUTPUTS = ("softmax256", "bernoulli")


@dataclasses.dataclass(frozen=True)
class PixelRNNConfig:
    """PixelRNN / PixelCNN hyper-parameters; see the module docstring for sources.

    Attributes:
      model: One of `MODELS`.
      image_size: Height and width of the images (the dataset is resized to it).
      channels: 1 (grayscale) or 3 (RGB: the R -> G -> B sub-pixel order).
      output: "softmax256" (a categorical over the 256 values of every sub-pixel)
        or "bernoulli" (binary pixels, 1 channel; images are binarised at 0.5).
      hidden: h, the units of each recurrent layer (the residual stream has 2h).
      num_layers: Layers including the first 7x7 convolution; 0 for the paper's
        depth of the model (`apps.pixelrnn.networks.paper_defaults`).
      output_features: Features of the first output 1x1 convolution; 0 for 2h.
      learning_rate: RMSProp learning rate.
      rho: RMSProp's decay of the squared-gradient average.
      batch_size: Global mini-batch size.
      ema_decay: Decay of the weights' moving average used for sampling and
        evaluation; 0 (the paper) for none.
      seed: Seed of the weight initialisation.
    """

    model: str = "diagonal_bilstm"
    image_size: int = 32
    channels: int = 3
    output: str = "softmax256"
    hidden: int = 128
    num_layers: int = 0
    output_features: int = 1024
    learning_rate: float = 1e-3
    rho: float = 0.9
    batch_size: int = 16
    ema_decay: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}.")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}; got {self.output!r}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        if self.output == "bernoulli" and self.channels != 1:
            raise ValueError("output=bernoulli models binary single-channel images (binarised MNIST); pass "
                             "--channels=1, or --output=softmax256 for colour images.")
        for name in ("image_size", "hidden", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.image_size < 2:
            raise ValueError(f"image_size must be at least 2; got {self.image_size}.")
        if self.channels == 3 and self.hidden < 3:
            raise ValueError(f"hidden must be at least 3 for RGB images (one group of units per colour); "
                             f"got {self.hidden}.")
        if not isinstance(self.num_layers, int) or self.num_layers < 0 or self.num_layers == 1:
            raise ValueError(f"num_layers must be 0 (the paper's depth) or at least 2 (the first 7x7 "
                             f"convolution and one block); got {self.num_layers!r}.")
        features = self.output_features
        if not isinstance(features, int) or features < 0 or 0 < features < self.channels:
            raise ValueError(f"output_features must be 0 (2 * hidden) or at least the {self.channels} channels; "
                             f"got {self.output_features!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"rho must be in [0, 1); got {self.rho!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")

    @property
    def layers(self) -> int:
        """The network's depth: ``num_layers``, or the paper's for the model when it is 0."""
        if self.num_layers:
            return self.num_layers
        return 15 if self.model == "pixelcnn" else 12

    @property
    def dims(self) -> int:
        """Dimensions (sub-pixels) of one image: H * W * C."""
        return self.image_size * self.image_size * self.channels
