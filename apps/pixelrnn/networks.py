"""PixelCNN, Row LSTM and Diagonal BiLSTM networks (van den Oord et al. 2016, https://arxiv.org/abs/1601.06759).

The three single-scale architectures of the paper's table 1, for images
``[H, W, C]`` (shapes without the batch axis, ``h`` = ``hidden``):

    image [H, W, C] in [-1, 1]
    -> 7x7 masked conv, mask 'A', 2h                          (layer 1)
    -> (num_layers - 1) residual blocks, 2h -> 2h             (layers 2 .. num_layers)
         pixelcnn:        PixelCNNBlock (1x1, 3x3, 1x1 masked 'B' convolutions)
         row_lstm:        RecurrentBlock(Row LSTM, i-s 1x3 mask 'B', s-s 1x3 unmasked)
         diagonal_bilstm: RecurrentBlock(Diagonal BiLSTM, i-s 1x1 mask 'B', s-s 2x1 unmasked)
    -> ReLU -> 1x1 masked conv 'B', output_features (default 2h; the paper's 1024 on CIFAR-10)
    -> ReLU -> 1x1 masked conv 'B', C * 256 -> logits [H, W, C, 256]     ("softmax256")
                                    or C       -> logits [H, W, C]          ("bernoulli")

Every masked layer uses ``C`` colour groups (3 for RGB: R -> G -> B within a
pixel; 1 for grayscale), so the logits of sub-pixel ``(i, j, c)`` depend only
on the pixels before ``(i, j)`` in raster order and on the colours ``< c`` of
pixel ``(i, j)``. In the last convolution channel ``o`` of the ``C * 256``
belongs to colour group ``o * C // (C * 256) = o // 256``, which is the colour
the reshape to ``[H, W, C, 256]`` gives it.

Context. A Diagonal BiLSTM layer sees every earlier position of its input, so
the Diagonal BiLSTM network's logits at ``(i, j)`` depend on every earlier
sub-pixel but one: for ``j < W - 4``, the last colour of the last pixel of the
row above, ``(i - 1, W - 1)`` (the pixel itself for grayscale, its B for RGB).
That sub-pixel enters the network only through the 7x7 mask-A layer, whose
features at ``(i - 1, W - 1)`` exclude it and whose features in row ``i`` see
it from column ``W - 4`` on, all after ``(i, j)``; no later layer can carry it
back, whatever the depth. The Row LSTM network's context is a triangle above
the pixel that widens by one column per row and layer on each side, plus the
reach of the 7x7 layer; PixelCNN's grows by one pixel per 3x3 layer.

``num_layers`` counts layers as the paper does (section 4 and table 3: "12
layers", "15 layers"): the 7x7 layer plus the residual blocks; the two output
ReLU + 1x1 layers are not counted.

The discrete outputs (section 2.2): a 256-way softmax per sub-pixel for
natural images, a sigmoid (Bernoulli logit) per pixel for binarised MNIST. The
network returns logits; the losses apply the softmax or the sigmoid. Binary
pixels arrive as -1 / +1, 8-bit pixels scaled to [-1, 1].

The first output layer has ``output_features`` features (the app's config
passes the paper's 1024 for CIFAR-10 by default; ``2h`` when None). The paper also
describes "layer-to-output" (skip) connections from every layer to the output
layers (section 3.5, table 3), which are not built here; only the residual
connections are. The bias of the LSTMs' forget gates starts at zero (the paper
does not say).

Mixed precision: the final reshape (or identity) runs with ``dtype="float32"``,
so the logits leave the network in float32 whatever the policy.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.pixelrnn.layers import MaskedConv2D, PixelCNNBlock, RecurrentBlock
from common.nn.layers import MaximumLeakyReLU

__all__ = ["MODELS", "OUTPUTS", "build_network", "paper_defaults"]

MODELS = ("pixelcnn", "row_lstm", "diagonal_bilstm")
OUTPUTS = ("softmax256", "bernoulli")
LEVELS = 256  # values of an 8-bit sub-pixel

# (model, dataset) -> (hidden, num_layers); see `paper_defaults`.
_PAPER_DEFAULTS = {
    ("pixelcnn", "cifar10"): (128, 15),
    ("row_lstm", "cifar10"): (128, 12),
    ("diagonal_bilstm", "cifar10"): (128, 12),
    ("diagonal_bilstm", "binarized_mnist"): (16, 7),
}


def paper_defaults(model: str, dataset: str) -> tuple[int, int]:
    """``(hidden, num_layers)`` the paper gives for ``model`` on ``dataset``.

    From the paper's section 4 ("Specifications of Models"; section numbers of
    arXiv v3) and its tables 4 and 5:

    - ``"cifar10"``: Row LSTM and Diagonal BiLSTM with 12 layers and
      ``h = 128``; PixelCNN with 15 layers and ``h = 128``.
    - ``"binarized_mnist"``: Diagonal BiLSTM with 7 layers and ``h = 16``
      (table 4, "Diagonal BiLSTM (7 layers, h = 16)").

    Other pairs raise ``ValueError``: the paper reports no PixelCNN or Row
    LSTM configuration for binarised MNIST. For 32x32 and 64x64 ImageNet the
    paper trains Row LSTMs (a 12-layer one at 32x32 and a 4-layer one without
    residual connections at 64x64, with ``h`` of a few hundred units, 384 and
    512 as far as recalled here); those numbers are not verified against the
    text, so ImageNet is not offered.
    """
    if model not in MODELS:
        raise ValueError(f"`model` must be one of {MODELS}; got {model!r}.")
    try:
        return _PAPER_DEFAULTS[(model, dataset)]
    except KeyError:
        known = sorted({d for (m, d) in _PAPER_DEFAULTS if m == model})
        raise ValueError(f"The paper gives no {model} configuration for {dataset!r}; it does for {known}.") from None


def build_network(model: str, image_shape: tuple[int, int, int], hidden: int, num_layers: int, output: str,
                  name: str | None = None, output_features: int | None = None) -> keras.Model:
    """The PixelCNN / Row LSTM / Diagonal BiLSTM network of the module docstring.

    Args:
      model: ``"pixelcnn"``, ``"row_lstm"`` or ``"diagonal_bilstm"``.
      image_shape: ``(H, W, C)``; ``C`` is also the number of colour groups.
      hidden: ``h``; feature maps between layers have ``2h`` channels.
      num_layers: The 7x7 layer plus the residual blocks (>= 1).
      output: ``"softmax256"`` (logits ``[B, H, W, C, 256]``) or
        ``"bernoulli"`` (logits ``[B, H, W, C]``).
      name: Model name; ``model`` when None.
      output_features: Features of the first output 1x1 convolution (the paper's 1024 on CIFAR-10);
        None for ``2 * hidden``.

    Returns:
      A functional `keras.Model` from images ``[B, H, W, C]`` in [-1, 1] to
      float32 logits.
    """
    if model not in MODELS:
        raise ValueError(f"`model` must be one of {MODELS}; got {model!r}.")
    if output not in OUTPUTS:
        raise ValueError(f"`output` must be one of {OUTPUTS}; got {output!r}.")
    height, width, channels = (int(v) for v in image_shape)
    if min(height, width, channels) < 1:
        raise ValueError(f"`image_shape` must be three positive sizes; got {image_shape!r}.")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < channels:
        raise ValueError(f"`hidden` must be an integer >= the {channels} colour groups; got {hidden!r}.")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"`num_layers` must be a positive integer; got {num_layers!r}.")
    groups = channels
    images = keras.Input((height, width, channels), name="images")
    x = MaskedConv2D(2 * hidden, 7, mask_type="A", color_groups=groups, name="input_conv_7x7")(images)
    for block in range(1, num_layers):
        if model == "pixelcnn":
            x = PixelCNNBlock(hidden, color_groups=groups, name=f"block{block}")(x)
        else:
            x = RecurrentBlock(model, hidden, color_groups=groups, name=f"block{block}")(x)
    x = MaximumLeakyReLU(negative_slope=0.0, name="output_relu1")(x)
    features = 2 * hidden if output_features is None else int(output_features)
    if features < channels:
        raise ValueError(f"`output_features` must be at least the {channels} colour groups; got {features}.")
    x = MaskedConv2D(features, 1, mask_type="B", color_groups=groups, name="output_conv1")(x)
    x = MaximumLeakyReLU(negative_slope=0.0, name="output_relu2")(x)
    if output == "softmax256":
        x = MaskedConv2D(channels * LEVELS, 1, mask_type="B", color_groups=groups, name="output_conv2")(x)
        logits = layers.Reshape((height, width, channels, LEVELS), dtype="float32", name="logits")(x)
    else:
        x = MaskedConv2D(channels, 1, mask_type="B", color_groups=groups, name="output_conv2")(x)
        logits = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name or model)
