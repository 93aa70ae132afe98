"""Speed of `keras.layers.Conv2DTranspose` against `common.nn.layers.SubPixelConv2DTranspose`.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/upsample_conv.py [--batch_size=64] [--repeats=7] [--iterations=5]

What it measures, on the DCGAN-64 generator shapes (kernel 4, stride 2, "same"):
the four fractionally-strided layers 4x4x1024->8x8x512, 8x8x512->16x16x256,
16x16x256->32x32x128 and 32x32x128->64x64x3, then the whole DCGAN-64 generator
(`apps.dcgan.networks.build_generator` with ``upsample="transpose"`` and
``upsample="subpixel"``). Each case is timed as a compiled forward pass and as a
compiled forward+backward pass (gradients with respect to the input and the
weights). Both layers get the same weights. Repetitions of the two variants are
interleaved, so that a load change on a shared machine hits both; the printed
time is the median over repetitions of the mean over iterations, and the ratio
is transpose / subpixel (> 1 means the sub-pixel layer is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.dcgan.config import DCGANConfig  # noqa: E402
from apps.dcgan.networks import build_generator  # noqa: E402
from common.nn.layers import SubPixelConv2DTranspose  # noqa: E402

LAYER_SHAPES = [(4, 1024, 512), (8, 512, 256), (16, 256, 128), (32, 128, 3)]  # (size, in, out)


def compiled_steps(model, inputs):
    """A forward and a forward+backward function, traced once."""

    @tf.function
    def forward():
        return tf.reduce_sum(model(inputs, training=True))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(model(inputs, training=True))
        return tape.gradient(total, [inputs] + model.trainable_weights)

    return forward, forward_backward


def time_call(function, iterations):
    start = time.perf_counter()
    for _ in range(iterations):
        outputs = function()
    tf.nest.map_structure(lambda t: t.numpy(), outputs)
    return (time.perf_counter() - start) / iterations


def compare(label, models, inputs, repeats, iterations):
    """Interleaved timing of {"transpose": model, "subpixel": model} on the same inputs."""
    functions = {name: compiled_steps(model, inputs) for name, model in models.items()}
    for forward, forward_backward in functions.values():  # trace and warm up
        forward()
        forward_backward()
    for mode, index in (("forward", 0), ("fwd+bwd", 1)):
        times = {name: [] for name in functions}
        for _ in range(repeats):
            for name, pair in functions.items():
                times[name].append(time_call(pair[index], iterations))
        transpose = statistics.median(times["transpose"]) * 1e3
        subpixel = statistics.median(times["subpixel"]) * 1e3
        print(f"{label:<28s} {mode:<8s} transpose {transpose:8.2f} ms  subpixel {subpixel:8.2f} ms  "
              f"ratio {transpose / subpixel:5.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, batch {args.batch_size}, "
          f"{args.repeats} interleaved repeats x {args.iterations} iterations, median ms per call")
    for size, in_channels, out_channels in LAYER_SHAPES:
        inputs = tf.constant(rng.standard_normal((args.batch_size, size, size, in_channels)), tf.float32)
        transpose = keras.layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same", use_bias=False)
        subpixel = SubPixelConv2DTranspose(out_channels, 4, strides=2, padding="same", use_bias=False)
        transpose.build(inputs.shape)
        subpixel.build(inputs.shape)
        subpixel.set_weights(transpose.get_weights())
        label = f"{size}x{size}x{in_channels}->{2 * size}x{2 * size}x{out_channels}"
        compare(label, {"transpose": transpose, "subpixel": subpixel}, inputs, args.repeats, args.iterations)
    generators = {
        name: build_generator(DCGANConfig(image_size=64, channels=3, upsample=name))
        for name in ("transpose", "subpixel")
    }
    generators["subpixel"].set_weights(generators["transpose"].get_weights())
    z = tf.constant(rng.standard_normal((args.batch_size, 100)), tf.float32)
    compare("DCGAN-64 generator", generators, z, args.repeats, args.iterations)


if __name__ == "__main__":
    main()
