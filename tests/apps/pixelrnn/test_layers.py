"""PixelRNN layers and networks: causality by gradients, receptive fields, masks, serialisation (apps/pixelrnn).

Causality is checked on Jacobians. For a target sub-pixel ``(i, j, c)`` the
output channels of colour group ``c`` at pixel ``(i, j)`` are summed (for a
network: the logits of colour ``c``) and differentiated with respect to the
input. The ordering is raster order over pixels, then the colour groups within
a pixel. The gradient must be exactly 0.0 at every input pixel after
``(i, j)`` and, at ``(i, j)`` itself, at the input groups after ``c`` (mask
'B' layers, which may read their own group) or at and after ``c`` (mask 'A'
layers and whole networks, whose logits must not read the sub-pixel they
predict). Zeros are structural (masked weights, zero padding, scans that have
not reached a position), so the comparison is exact. The gradient must also
be non-zero where the layer is meant to look, at least at the pixel above and
the pixel to the left and at the earlier colours of the pixel itself, so that
a layer that is too restrictive fails as well.

Several targets are differentiated in one backward pass: the batch holds one
copy of the input images per target and each copy's output is reduced at its
own target (the layers do not mix batch elements). The absolute Jacobians of
``VIEWS`` random images are summed, so that a dependence hidden at one input
by a ReLU that happens to be off shows at another. Weights are drawn from a
seeded generator (`reinitialise`), so every run checks the same networks.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.pixelrnn import layers as L
from apps.pixelrnn.networks import build_network, paper_defaults

HEIGHT, WIDTH = 5, 6
VIEWS = 3  # input images per Jacobian (see `jacobians`)
PIXELS = [(0, 0), (0, WIDTH - 1), (1, 1), (2, 3), (HEIGHT - 1, 0), (HEIGHT - 1, WIDTH - 1)]


def image(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def reinitialise(layer, x, seed):
    """Builds ``layer`` on the batch ``x`` and draws its weights from a seeded generator, without global random state.

    Kernels are LeCun-uniform (limit sqrt(3 / fan_in)); biases uniform in [0, 0.1], slightly
    positive so that few ReLUs of a small network are dead at a given pixel.
    """
    layer(x)
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        shape = tuple(weight.shape)
        if len(shape) == 1:
            value = rng.uniform(0.0, 0.1, shape)
        else:
            limit = np.sqrt(3.0 / np.prod(shape[:-1]))
            value = rng.uniform(-limit, limit, shape)
        weight.assign(value.astype(np.float32))
    return layer


def targets_for(groups, pixels=PIXELS):
    return [(i, j, c) for (i, j) in pixels for c in range(groups)]


def jacobians(fn, images, targets, output_selector):
    """|d(sum of the target's outputs)/d(input)| summed over ``images`` [K, H, W, C_in], per target: [T, H, W, C_in].

    ``output_selector(c)`` is a 0/1 array over the output's trailing (non-spatial)
    axes that picks the outputs of colour group ``c``. A dependence shows in the
    sum if it shows at any of the K images (a ReLU that is off at one input is
    on at another); a structural zero is zero at all of them, and so is the sum.
    """
    views = len(images)
    batch = tf.constant(np.concatenate([images] * len(targets)))  # target-major: [T * K, H, W, C_in]
    with tf.GradientTape() as tape:
        tape.watch(batch)
        outputs = fn(batch)
        weights = np.zeros(outputs.shape, np.float32)
        for t, (i, j, c) in enumerate(targets):
            weights[t * views:(t + 1) * views, i, j] = output_selector(c)
        total = tf.reduce_sum(tf.cast(outputs, tf.float32) * weights)
    gradients = np.abs(tape.gradient(total, batch).numpy())
    return gradients.reshape((len(targets), views) + gradients.shape[1:]).sum(axis=1)


def layer_selector(channels, groups):
    out_groups = L.channel_groups(channels, groups)
    return lambda c: (out_groups == c).astype(np.float32)


def logits_selector(channels, output):
    def select(c):
        picked = np.zeros((channels, 256) if output == "softmax256" else (channels,), np.float32)
        picked[c] = 1.0
        return picked

    return select


def assert_causal(jacobian, target, in_groups, strict):
    """Exact zeros at and after the target in the ordering; non-zero above, left and at earlier colours."""
    i, j, c = target
    height, width, _ = jacobian.shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    after = (rows * width + cols) > (i * width + j)
    forbidden = np.broadcast_to(after[..., None], jacobian.shape).copy()
    forbidden[i, j] = in_groups >= c if strict else in_groups > c
    assert np.all(jacobian[forbidden] == 0.0), f"target {target} depends on the future"
    if i > 0:
        assert np.any(jacobian[i - 1, j] != 0.0), f"target {target} does not see the pixel above"
    if j > 0:
        assert np.any(jacobian[i, j - 1] != 0.0), f"target {target} does not see the pixel to the left"
    for earlier in range(c if strict else c + 1):
        assert np.any(jacobian[i, j, in_groups == earlier] != 0.0), (
            f"target {target} does not see colour group {earlier} of its own pixel")


def assert_field(jacobian, target, in_groups, field, mask_type="B"):
    """Non-zero exactly on ``field`` (a boolean [H, W] of context pixels besides the centre); centre by group."""
    i, j, c = target
    seen = np.any(jacobian != 0.0, axis=-1)
    field = field.copy()
    field[i, j] = False
    outside = ~field
    outside[i, j] = False
    assert np.all(seen[field]), f"target {target}: blind at {np.argwhere(field & ~seen).tolist()}"
    assert not np.any(seen[outside]), f"target {target}: sees {np.argwhere(outside & seen).tolist()}"
    centre_allowed = in_groups < c if mask_type == "A" else in_groups <= c
    assert np.all(jacobian[i, j, ~centre_allowed] == 0.0)
    for group in np.unique(in_groups[centre_allowed]):
        assert np.any(jacobian[i, j, in_groups == group] != 0.0)


def grid():
    return np.meshgrid(np.arange(HEIGHT), np.arange(WIDTH), indexing="ij")


# ---------------------------------------------------------------- masks


def test_mask_counts():
    assert L.causal_mask(3, 3, 1, 1, "A", 1).sum() == 4
    assert L.causal_mask(3, 3, 1, 1, "B", 1).sum() == 5
    assert L.causal_mask(7, 7, 1, 1, "A", 1).sum() == 24
    assert L.causal_mask(7, 7, 1, 1, "B", 1).sum() == 25
    assert L.causal_mask(1, 3, 1, 1, "A", 1).sum() == 1  # the left neighbour
    assert L.causal_mask(1, 3, 1, 1, "B", 1).sum() == 2
    assert L.causal_mask(3, 1, 1, 1, "B", 1).sum() == 2  # the pixel above and the centre
    assert L.causal_mask(1, 1, 2, 2, "A", 1).sum() == 0
    assert L.causal_mask(1, 1, 2, 2, "B", 1).sum() == 4
    # RGB, one channel per colour: 4 context positions x 9 channel pairs, plus the centre pairs
    # in < out (3 of them, mask A) or in <= out (6, mask B).
    assert L.causal_mask(3, 3, 3, 3, "A", 3).sum() == 36 + 3
    assert L.causal_mask(3, 3, 3, 3, "B", 3).sum() == 36 + 6
    # Two channels per colour: 4 channel pairs per group pair.
    assert L.causal_mask(1, 1, 6, 6, "A", 3).sum() == 3 * 4
    assert L.causal_mask(1, 1, 6, 6, "B", 3).sum() == 6 * 4
    np.testing.assert_array_equal(
        L.causal_mask(1, 1, 3, 3, "A", 3)[0, 0], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    # Uneven split: 4 channels in 3 groups are [0, 0, 1, 2].
    np.testing.assert_array_equal(L.channel_groups(4, 3), [0, 0, 1, 2])
    np.testing.assert_array_equal(L.channel_groups(768, 3), np.arange(768) // 256)


def test_gate_blocks_keep_the_hidden_grouping():
    # 4 gates x 3 units, 3 groups: gate channel k * 3 + c has the group of hidden channel c.
    np.testing.assert_array_equal(L.channel_groups(12, 3, blocks=4), np.tile([0, 1, 2], 4))
    centre = L.causal_mask(1, 1, 3, 12, "B", 3, output_blocks=4)[0, 0]
    np.testing.assert_array_equal(centre, np.tile(np.arange(3)[:, None] <= np.arange(3)[None, :], (1, 4)))


def test_mask_argument_errors():
    with pytest.raises(ValueError, match="odd"):
        L.causal_mask(2, 3, 1, 1, "B", 1)
    with pytest.raises(ValueError, match="colour groups"):
        L.causal_mask(3, 3, 2, 6, "A", 3)
    with pytest.raises(ValueError, match="'A' or 'B'"):
        L.MaskedConv2D(4, 3, mask_type="C")
    with pytest.raises(ValueError, match="takes 8 channels"):
        L.PixelCNNBlock(4)(np.zeros((1, 3, 3, 6), np.float32))


# ---------------------------------------------------------------- skew


def test_skew_and_unskew_are_inverse():
    x = image((2, 4, 5, 3))
    skewed = L.skew(x).numpy()
    assert skewed.shape == (2, 4, 5 + 4 - 1, 3)
    expected = np.zeros_like(skewed)
    for i in range(4):
        expected[:, i, i:i + 5] = x[:, i]
    np.testing.assert_array_equal(skewed, expected)
    np.testing.assert_array_equal(L.unskew(skewed, 5).numpy(), x)
    # Dynamic shapes inside a traced function.
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    roundtrip = tf.function(lambda t: L.unskew(L.skew(t), tf.shape(t)[2]), input_signature=[spec])
    np.testing.assert_array_equal(roundtrip(x).numpy(), x)


# ---------------------------------------------------------------- single layers


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel", [3, 7])
@pytest.mark.parametrize("groups", [1, 3])
def test_masked_conv_causal_with_exact_field(mask_type, kernel, groups):
    channels = 2 * groups
    layer = L.MaskedConv2D(channels, kernel, mask_type=mask_type, color_groups=groups, bias_initializer="ones")
    x = image((VIEWS, HEIGHT, WIDTH, channels))
    targets = targets_for(groups)
    jac = jacobians(reinitialise(layer, x, 0), x, targets, layer_selector(channels, groups))
    in_groups = L.channel_groups(channels, groups)
    rows, cols = grid()
    half = kernel // 2
    for t, (i, j, c) in enumerate(targets):
        assert_causal(jac[t], (i, j, c), in_groups, strict=mask_type == "A")
        above = (rows >= i - half) & (rows < i) & (np.abs(cols - j) <= half)
        left = (rows == i) & (cols < j) & (cols >= j - half)
        assert_field(jac[t], (i, j, c), in_groups, above | left, mask_type)


@pytest.mark.parametrize("groups", [1, 3])
def test_row_lstm_causal_with_triangular_field(groups):
    """Row LSTM (k = 3): row i - d sees columns j - d - 1 .. j + d; row i columns j - 1 and j."""
    channels, units = 2 * groups, 2 * groups
    layer = L.RowLSTM(units, color_groups=groups)
    x = image((VIEWS, HEIGHT, WIDTH, channels), seed=1)
    targets = targets_for(groups)
    jac = jacobians(reinitialise(layer, x, 0), x, targets, layer_selector(units, groups))
    in_groups = L.channel_groups(channels, groups)
    rows, cols = grid()
    for t, (i, j, c) in enumerate(targets):
        assert_causal(jac[t], (i, j, c), in_groups, strict=False)
        depth = i - rows
        triangle = (depth >= 1) & (cols >= j - depth - 1) & (cols <= j + depth)
        assert_field(jac[t], (i, j, c), in_groups, triangle | ((rows == i) & (cols == j - 1)))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("groups", [1, 3])
def test_diagonal_lstm_directions_with_rectangular_fields(reverse, groups):
    """Left to right: rows <= i, columns <= j. Right to left (shifted down): rows < i, columns >= j."""
    channels, units = 2 * groups, 2 * groups
    layer = L.DiagonalLSTM(units, color_groups=groups, reverse=reverse)
    x = image((VIEWS, HEIGHT, WIDTH, channels), seed=2)
    targets = targets_for(groups)
    jac = jacobians(reinitialise(layer, x, 0), x, targets, layer_selector(units, groups))
    in_groups = L.channel_groups(channels, groups)
    rows, cols = grid()
    for t, (i, j, c) in enumerate(targets):
        if reverse:
            field = (rows < i) & (cols >= j)
            # Nothing in the target's own row, the pixel itself included.
            assert np.all(jac[t][i:] == 0.0)
            if i > 0:
                assert np.any(jac[t][i - 1, j] != 0.0) and np.any(jac[t][i - 1, WIDTH - 1] != 0.0)
            else:
                assert np.all(jac[t] == 0.0)  # row 0 is the shifted-in zeros
        else:
            field = (rows <= i) & (cols <= j)
            assert_causal(jac[t], (i, j, c), in_groups, strict=False)
            assert_field(jac[t], (i, j, c), in_groups, field)
        seen = np.any(jac[t] != 0.0, axis=-1)
        seen[i, j] = False
        field[i, j] = False
        np.testing.assert_array_equal(seen, field)


@pytest.mark.parametrize("groups", [1, 3])
def test_diagonal_bilstm_sees_the_whole_context(groups):
    channels, units = 2 * groups, 2 * groups
    layer = L.DiagonalBiLSTM(units, color_groups=groups)
    x = image((VIEWS, HEIGHT, WIDTH, channels), seed=3)
    targets = targets_for(groups)
    jac = jacobians(reinitialise(layer, x, 0), x, targets, layer_selector(units, groups))
    in_groups = L.channel_groups(channels, groups)
    rows, cols = grid()
    for t, (i, j, c) in enumerate(targets):
        assert_causal(jac[t], (i, j, c), in_groups, strict=False)
        before = rows * WIDTH + cols < i * WIDTH + j
        assert_field(jac[t], (i, j, c), in_groups, before)


@pytest.mark.parametrize("block", ["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_residual_blocks_causal(block):
    groups, hidden = 3, 6
    layer = L.PixelCNNBlock(hidden, color_groups=groups) if block == "pixelcnn" else L.RecurrentBlock(
        block, hidden, color_groups=groups)
    x = image((VIEWS, HEIGHT, WIDTH, 2 * hidden), seed=4)
    targets = targets_for(groups)
    jac = jacobians(reinitialise(layer, x, 0), x, targets, layer_selector(2 * hidden, groups))
    in_groups = L.channel_groups(2 * hidden, groups)
    for t, target in enumerate(targets):
        assert_causal(jac[t], target, in_groups, strict=False)


# ---------------------------------------------------------------- networks


NETWORK_CASES = [(model, output) for model in ("pixelcnn", "row_lstm", "diagonal_bilstm")
                 for output in ("softmax256", "bernoulli")]


@pytest.mark.parametrize("model,output", NETWORK_CASES)
def test_network_logits_are_causal(model, output):
    channels = 3 if output == "softmax256" else 1
    network = build_network(model, (HEIGHT, WIDTH, channels), hidden=6, num_layers=3, output=output)
    expected_shape = (None, HEIGHT, WIDTH, channels) + ((256,) if output == "softmax256" else ())
    assert network.output.shape == expected_shape
    x = np.clip(image((VIEWS, HEIGHT, WIDTH, channels), seed=5), -1.0, 1.0)
    if output == "bernoulli":
        x = np.sign(x) + (x == 0)  # binary pixels as -1 / +1
    targets = targets_for(channels)
    jac = jacobians(reinitialise(network, x, 0), x, targets, logits_selector(channels, output))
    for t, target in enumerate(targets):
        assert_causal(jac[t], target, np.arange(channels), strict=True)


def test_network_receptive_fields():
    """The exact fields of the logits at pixels (2, 0) and (2, 7) of 3x8 binary images, one block.

    Diagonal BiLSTM: the whole context, except for (2, 0) the last pixel of the row
    above, (1, 7). That pixel enters the network only through the 7x7 mask-A layer,
    whose features at (1, 7) exclude it and whose features in row 2 see it only from
    columns 4..7, all after (2, 0); so no causal network with this first layer can show
    it to (2, 0), however deep (see `apps.pixelrnn.networks`). The last pixel (2, 7)
    sees every earlier pixel, (0, 0) included.

    Row LSTM: a triangle above the pixel, widening by one column per row on each side
    (`test_row_lstm_causal_with_triangular_field` checks the layer's own triangle exactly),
    widened by the 7x7 layer's 3 columns: (2, 7) sees row 2 only from column 3 on, row 1
    from column 2 and row 0 from column 1; (2, 0) sees row 1 up to column 3 and row 0 up
    to column 4. PixelCNN: the 7x7 layer plus one 3x3 layer, columns 3..7 for (2, 7).
    """
    x = np.sign(image((VIEWS, 3, 8, 1), seed=6))
    targets = [(2, 0, 0), (2, 7, 0)]
    expected = {
        "diagonal_bilstm": (["11111111", "11111110", "00000000"], ["11111111", "11111111", "11111110"]),
        "row_lstm": (["11111000", "11110000", "00000000"], ["01111111", "00111111", "00011110"]),
        "pixelcnn": (["11111000", "11110000", "00000000"], ["00011111", "00011111", "00011110"]),
    }
    for model, fields in expected.items():
        network = build_network(model, (3, 8, 1), hidden=4, num_layers=2, output="bernoulli")
        jac = jacobians(reinitialise(network, x, 1), x, targets, logits_selector(1, "bernoulli"))
        for t, field in enumerate(fields):
            expected_field = np.array([[char == "1" for char in row] for row in field])
            np.testing.assert_array_equal(jac[t, ..., 0] != 0.0, expected_field, err_msg=f"{model} {targets[t]}")


def test_output_grouping_matches_the_logits_reshape():
    network = build_network("pixelcnn", (4, 4, 3), hidden=4, num_layers=1, output="softmax256")
    mask = network.get_layer("output_conv2").kernel_mask[0, 0]  # [8, 768]
    out_groups = np.arange(768) // 256  # the reshape's colour of channel o
    in_groups = L.channel_groups(8, 3)
    np.testing.assert_array_equal(mask, (in_groups[:, None] <= out_groups[None, :]).astype(np.float32))


def test_paper_defaults():
    assert paper_defaults("pixelcnn", "cifar10") == (128, 15)
    assert paper_defaults("row_lstm", "cifar10") == (128, 12)
    assert paper_defaults("diagonal_bilstm", "cifar10") == (128, 12)
    assert paper_defaults("diagonal_bilstm", "binarized_mnist") == (16, 7)
    with pytest.raises(ValueError, match="no pixelcnn configuration"):
        paper_defaults("pixelcnn", "binarized_mnist")
    network = build_network("row_lstm", (4, 4, 3), hidden=3, num_layers=4, output="softmax256")
    blocks = [layer for layer in network.layers if isinstance(layer, L.RecurrentBlock)]
    assert len(blocks) == 3  # the 7x7 layer plus three blocks: four layers


# ---------------------------------------------------------------- graphs, serialisation, precision


@pytest.mark.parametrize("layer_class", [L.RowLSTM, L.DiagonalBiLSTM])
def test_graph_size_does_not_grow_with_the_image(layer_class):
    layer = layer_class(3, color_groups=3)
    fn = tf.function(layer)
    sizes = [len(fn.get_concrete_function(tf.TensorSpec((1, n, n, 3))).graph.as_graph_def().node) for n in (4, 12)]
    assert sizes[0] == sizes[1]


def all_layers():
    return [
        L.MaskedConv2D(6, (3, 5), mask_type="A", color_groups=3, use_bias=False, name="masked"),
        L.RowLSTM(6, color_groups=3, kernel_size=5, name="row"),
        L.DiagonalLSTM(6, color_groups=3, reverse=True, name="diagonal"),
        L.DiagonalBiLSTM(6, color_groups=3, name="bilstm"),
        L.PixelCNNBlock(3, color_groups=3, name="pixelcnn_block"),
        L.RecurrentBlock("row_lstm", 3, color_groups=3, row_kernel_size=5, name="row_block"),
        L.RecurrentBlock("diagonal_bilstm", 3, color_groups=3, name="diagonal_block"),
    ]


def test_get_config_from_config_roundtrip():
    x = image((2, 4, 5, 6), seed=7)
    for layer in all_layers():
        expected = layer(x)
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        clone.build(x.shape)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x).numpy(), expected.numpy())


@pytest.mark.parametrize("model", ["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_save_and_load_with_safe_mode(model, tmp_path):
    network = build_network(model, (4, 5, 3), hidden=3, num_layers=2, output="softmax256")
    x = np.clip(image((2, 4, 5, 3), seed=8), -1.0, 1.0)
    path = tmp_path / f"{model}.keras"
    network.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), network(x).numpy())


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_forward_gives_float32_logits(policy):
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy(policy)
        for model, output, channels in (("diagonal_bilstm", "softmax256", 3), ("row_lstm", "bernoulli", 1),
                                        ("pixelcnn", "softmax256", 3)):
            network = build_network(model, (4, 5, channels), hidden=3, num_layers=2, output=output)
            assert network.get_layer("block1").compute_dtype == policy.split("_")[1]
            assert all(w.dtype == "float32" for w in network.weights)
            logits = network(np.clip(image((2, 4, 5, channels), seed=9), -1.0, 1.0))
            assert logits.dtype == "float32" and np.all(np.isfinite(logits.numpy()))
        # Masks stay exact in half precision: the last network's logits are still causal.
        x = np.clip(image((VIEWS, 4, 5, 3), seed=10), -1.0, 1.0)
        jac = jacobians(reinitialise(network, x, 2), x, [(2, 2, 1)],
                        logits_selector(3, "softmax256"))
        assert_causal(jac[0], (2, 2, 1), np.arange(3), strict=True)
    finally:
        keras.config.set_dtype_policy(previous)
