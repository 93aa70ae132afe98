"""Share of this machine's peak convolution rate that the CycleGAN and DCGAN steps reach.

    python tests/benchmarks/roofline.py                         # peaks, then every variant, 2 rounds
    python tests/benchmarks/roofline.py --variants=baseline,jemalloc --rounds=3 --cyclegan_size=256

Every measurement runs in a fresh process of this script (`--worker`); the
baseline's process measures both parts below, so that a pass and the peak it
is compared with see the same machine (its speed drifts with other work), and
the other variants are compared with the peaks of the same round's baseline:

1. Peak per shape. Every convolution and dense layer of the measured networks
   is timed alone, as the three operations training runs: forward, the
   gradient of the input (backward-input) and the gradient of the weights
   (backward-filter), each a `tf.function` of the raw TensorFlow op
   (`Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`, `MatMul`; a
   transposed convolution's forward is `Conv2DBackpropInput` and its
   backward-input a `Conv2D`) on random float32 tensors of the layer's shapes,
   median of `--repeats` calls after a warm-up; the faster of the op alone and
   of two independent copies side by side in one call (half its time), since
   one op's own threads may leave a core idle that a network's independent ops
   keep busy. A network pass's peak is its FLOPs over the sum of its layers'
   times at these rates: what the pass would reach if every layer ran at the
   speed it runs alone and everything else (normalisation, padding,
   activations, optimizer) were free.
2. Networks and steps. Each pass is a `tf.function` on fixed random inputs,
   median of `--repeats` calls: a network's forward (`training=True`) and
   forward+backward (the gradients of all its weights), backward being the
   difference; and DCGAN's whole training step (`train_step` with its Adam
   updates, as `runtime_overhead.py` times it). Networks: DCGAN-64 RGB at batch
   32 with the app's default widths (64 base filters), the CycleGAN ResNet
   generator (9 residual blocks above 128x128, else 6) and PatchGAN
   discriminator at `--cyclegan_size`, batch 1. Deterministic ops are on, as in
   the apps' default runs; float32.

FLOPs are counted from layer shapes: 2 per multiply-add of the convolution and
dense layers; a backward pass counts 2x its forward (input and weight
gradients). DCGAN's step (`reuse_fakes`, the default) is one generator forward
and backward, and three discriminator forwards (real, fake, fake through the
updated D) each with a backward: 3 F_G + 9 F_D.

Variants run in rounds, in the same order each round, each a fresh process,
and are reported as medians and as the median ratio of the baseline's time to
theirs in the same round (above 1: faster). A variant is an allocator through
`LD_PRELOAD` (jemalloc, tcmalloc), TensorFlow's BFC allocator on the CPU
(`TF_CPU_ALLOCATOR_USE_BFC=true`), a TensorFlow thread-pool setting, several
DCGAN steps per `tf.function` call (what `steps_per_execution` does), or
another instance-norm or reflection-padding op for CycleGAN's networks. Also
printed per run: user and system CPU seconds of the timed calls and the peak
resident memory of the process. The op choices are also compared inside one
process each round (`--interleaved_ops`): one CycleGAN generator per choice,
their forward+backward calls alternating, which removes the drift between
processes from that comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name -> (environment additions, worker flags, the networks whose passes it times: None = all)
VARIANTS = {
    "baseline": ({}, [], None),
    "jemalloc": ({"LD_PRELOAD": f"{LIBDIR}/libjemalloc.so.2"}, [], None),
    "tcmalloc": ({"LD_PRELOAD": f"{LIBDIR}/libtcmalloc_minimal.so.4"}, [], None),
    "bfc_allocator": ({"TF_CPU_ALLOCATOR_USE_BFC": "true"}, [], None),
    "inter_op_1": ({}, ["--inter_op=1"], None),
    "intra_op_1": ({}, ["--intra_op=1"], None),
    "nodeterministic": ({}, ["--no-deterministic"], None),
    "steps_per_call_4": ({}, ["--steps_per_call=4"], "dcgan"),
    "instance_norm_moments": ({}, ["--instance_norm=moments"], "cyclegan"),
    "instance_norm_fused": ({}, ["--instance_norm=fused_batch_norm"], "cyclegan"),
    "reflection_pad_concat": ({}, ["--reflection_pad=concat"], "cyclegan"),
}


# ----------------------------------------------------------------------------- worker


def _layer_shapes(model, input_shape):
    """[(layer, input shape, output shape)] of the model's layers for a concrete input shape."""
    import keras

    records = []

    def operation_fn(operation):
        def run(*args, **kwargs):
            output = operation.compute_output_spec(*args, **kwargs)
            inputs = [t.shape for t in keras.tree.flatten(args) if hasattr(t, "shape")]
            records.append((operation, inputs[0] if inputs else None, output.shape))
            return output

        return run

    model._run_through_graph(keras.KerasTensor(input_shape), operation_fn=operation_fn)
    return records


def _compute_layers(model, input_shape):
    """The multiply-add layers: dicts of kind, shapes, strides, padding and forward MACs."""
    from keras import layers

    found = []
    for layer, x_shape, y_shape in _layer_shapes(model, input_shape):
        if isinstance(layer, layers.Conv2DTranspose):
            k, s = layer.kernel_size[0], layer.strides[0]
            macs = x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3] * k * k * y_shape[3]
            found.append({"kind": "conv_transpose", "x": tuple(x_shape), "y": tuple(y_shape), "k": k, "s": s,
                          "padding": layer.padding.upper(), "macs": macs, "name": layer.name})
        elif isinstance(layer, layers.Conv2D):
            k, s = layer.kernel_size[0], layer.strides[0]
            macs = y_shape[0] * y_shape[1] * y_shape[2] * y_shape[3] * k * k * x_shape[3]
            found.append({"kind": "conv", "x": tuple(x_shape), "y": tuple(y_shape), "k": k, "s": s,
                          "padding": layer.padding.upper(), "macs": macs, "name": layer.name})
        elif isinstance(layer, layers.Dense):
            macs = x_shape[0] * x_shape[-1] * y_shape[-1]
            found.append({"kind": "dense", "x": tuple(x_shape), "y": tuple(y_shape), "macs": macs, "name": layer.name})
    return found


def _time_calls(function, args, repeats: int) -> dict:
    """Median wall seconds of `repeats` calls after two warm-up calls, with the CPU time of the timed calls."""
    for _ in range(2):
        function(*args)
    times = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": statistics.median(times), "user": (after.ru_utime - before.ru_utime) / repeats,
            "system": (after.ru_stime - before.ru_stime) / repeats}


def _shape_ops(layer):
    """{operation: (function, args)} for the layer's forward, backward-input and backward-filter."""
    import tensorflow as tf

    rand = lambda shape: tf.random.stateless_normal(shape, seed=(1, 2))
    if layer["kind"] == "dense":
        x, y = rand((layer["x"][0], layer["x"][-1])), rand((layer["y"][0], layer["y"][-1]))
        w = rand((layer["x"][-1], layer["y"][-1]))
        return {
            "forward": (lambda x, w: tf.matmul(x, w), (x, w)),
            "backward_input": (lambda dy, w: tf.matmul(dy, w, transpose_b=True), (y, w)),
            "backward_filter": (lambda x, dy: tf.matmul(x, dy, transpose_a=True), (x, y)),
        }
    k, s, padding = layer["k"], layer["s"], layer["padding"]
    strides = [1, s, s, 1]
    x, y = rand(layer["x"]), rand(layer["y"])

    def conv(inputs, w):
        return tf.nn.conv2d(inputs, w, strides, padding)

    def conv_input_gradient(input_shape):
        return lambda w, dy: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=input_shape, filter=w, out_backprop=dy, strides=strides, padding=padding)

    def conv_filter_gradient(filter_shape):
        return lambda inputs, dy: tf.raw_ops.Conv2DBackpropFilter(
            input=inputs, filter_sizes=filter_shape, out_backprop=dy, strides=strides, padding=padding)

    if layer["kind"] == "conv":
        w_shape = (k, k, layer["x"][3], layer["y"][3])
        w = rand(w_shape)
        return {
            "forward": (conv, (x, w)),
            "backward_input": (conv_input_gradient(layer["x"]), (w, y)),
            "backward_filter": (conv_filter_gradient(w_shape), (x, y)),
        }
    # A transposed convolution is the input gradient of a convolution from y's shape to x's.
    w_shape = (k, k, layer["y"][3], layer["x"][3])
    w = rand(w_shape)
    return {
        "forward": (conv_input_gradient(layer["y"]), (w, x)),
        "backward_input": (conv, (y, w)),
        "backward_filter": (conv_filter_gradient(w_shape), (y, x)),
    }


def _shape_key(layer) -> str:
    kernel = f" k{layer['k']} s{layer['s']}" if "k" in layer else ""
    return f"{layer['kind']} {tuple(layer['x'])}->{tuple(layer['y'])}{kernel}"


def _networks(args):
    """{name: (keras model, input shape)} of the measured networks, with the DCGAN training model."""
    import keras

    from apps.cyclegan.config import CycleGANConfig
    from apps.cyclegan.networks import build_discriminator, build_generator
    from apps.dcgan.config import DCGANConfig
    from apps.dcgan.model import build_model, make_optimizers

    dcgan_config = DCGANConfig(image_size=64, channels=3, batch_size=args.dcgan_batch)
    dcgan = build_model(dcgan_config)
    g_optimizer, d_optimizer = make_optimizers(dcgan_config)
    dcgan.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    size = args.cyclegan_size
    cyclegan_config = CycleGANConfig(image_size=size, batch_size=1)
    networks = {
        "dcgan_generator": (dcgan.generator, (args.dcgan_batch, dcgan_config.latent_dim)),
        "dcgan_discriminator": (dcgan.discriminator, (args.dcgan_batch, 64, 64, 3)),
        "cyclegan_generator": (build_generator(cyclegan_config), (1, size, size, 3)),
        "cyclegan_discriminator": (build_discriminator(cyclegan_config), (1, size, size, 3)),
    }
    keras.utils.set_random_seed(0)
    return networks, dcgan


def _patch_ops(args) -> None:
    """Swaps CycleGAN's instance-norm or reflection-padding op for the variant's one, before building."""
    import tensorflow as tf
    from keras import layers

    from common.nn import translation_networks

    if args.instance_norm == "moments":
        class MomentsInstanceNorm(layers.Layer):
            def call(self, x):
                mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
                return (x - mean) * tf.math.rsqrt(variance + 1e-5)

        translation_networks.instance_norm = lambda name=None: MomentsInstanceNorm(name=name)
    if args.instance_norm == "fused_batch_norm":
        class FusedInstanceNorm(layers.Layer):
            """Batch normalisation's fused training-mode op over [1, H, W, B * C]: per image and channel."""

            def call(self, x):
                shape = tf.shape(x)
                channels = x.shape[-1]
                folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, shape[1], shape[2], -1])
                ones = tf.ones([tf.shape(folded)[-1]], tf.float32)
                y, _, _ = tf.compat.v1.nn.fused_batch_norm(folded, ones, tf.zeros_like(ones), epsilon=1e-5,
                                                           is_training=True)
                y = tf.reshape(y, [shape[1], shape[2], shape[0], channels])
                return tf.transpose(y, [2, 0, 1, 3])

        translation_networks.instance_norm = lambda name=None: FusedInstanceNorm(name=name)
    if args.reflection_pad == "concat":
        class ConcatReflectionPadding2D(translation_networks.ReflectionPadding2D):
            """The same padding from reversed slices and concatenations instead of MirrorPad."""

            def call(self, x):
                p = self.padding
                x = tf.concat([tf.reverse(x[:, 1:p + 1], [1]), x, tf.reverse(x[:, -p - 1:-1], [1])], axis=1)
                return tf.concat([tf.reverse(x[:, :, 1:p + 1], [2]), x, tf.reverse(x[:, :, -p - 1:-1], [2])],
                                 axis=2)

        translation_networks.ReflectionPadding2D = ConcatReflectionPadding2D


def worker(args) -> dict:
    __import__("apps")  # the commands' environment defaults, set before TensorFlow loads
    import tensorflow as tf

    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    _patch_ops(args)
    networks, dcgan = _networks(args)
    results = {"layers": {}, "passes": {}}
    for name, (model, input_shape) in networks.items():
        results["layers"][name] = _compute_layers(model, input_shape)

    if args.part == "ops":
        results["ops"] = _interleaved_ops(args)
        return results
    rand = lambda shape: tf.random.stateless_normal(shape, seed=(3, 4))
    for name, (model, input_shape) in networks.items():
        if not name.startswith(tuple(args.networks.split(","))):
            continue
        x = rand(input_shape)
        weight = rand(model(x, training=True).shape)  # a random direction for the output gradient

        def forward(x, model=model):
            return model(x, training=True)

        def forward_backward(x, weight, model=model):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True) * weight)
            return tape.gradient(loss, model.trainable_weights)

        results["passes"][f"{name} forward"] = _time_calls(tf.function(forward), (x,), args.repeats)
        results["passes"][f"{name} forward+backward"] = _time_calls(
            tf.function(forward_backward), (x, weight), args.repeats)
    if "dcgan" in args.networks:
        batch = {"image": tf.random.stateless_uniform((args.dcgan_batch, 64, 64, 3), seed=(1, 2),
                                                      minval=-1.0, maxval=1.0)}
        steps = args.steps_per_call

        def train_steps(batch):
            logs = None
            for _ in range(steps):  # unrolled, as Keras' steps_per_execution loop runs steps in one call
                logs = dcgan.train_step(batch)
            return logs

        timing = _time_calls(tf.function(train_steps), (batch,), max(1, args.repeats // steps))
        results["passes"]["dcgan training step"] = {k: v / steps for k, v in timing.items()}
    results["peaks"] = _peaks([layer for name, layer_list in results["layers"].items()
                               if name.startswith(tuple(args.networks.split(","))) for layer in layer_list],
                              args.repeats) if args.peaks else {}
    results["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _peaks(layer_list, repeats: int) -> dict:
    """{shape key: {operation: seconds}} for every distinct shape of the layers."""
    import tensorflow as tf

    peaks = {}
    for layer in layer_list:
        key = _shape_key(layer)
        if key in peaks:
            continue
        peaks[key] = {}
        for op, (fn, fn_args) in _shape_ops(layer).items():
            alone = _time_calls(tf.function(fn), fn_args, repeats)["seconds"]
            # Two independent copies in one call: both cores busy even where one op's own threads
            # leave one idle, as a network's independent ops run side by side (inter-op pool).
            other_args = tuple(tf.identity(t) + 0.0 for t in fn_args)
            pair = tf.function(lambda a, b, fn=fn: (fn(*a), fn(*b)))
            side_by_side = _time_calls(pair, (fn_args, other_args), repeats)["seconds"] / 2
            peaks[key][op] = min(alone, side_by_side)
    return peaks


OP_CHOICES = {"current": {}, "instance_norm_moments": {"instance_norm": "moments"},
              "instance_norm_fused": {"instance_norm": "fused_batch_norm"},
              "reflection_pad_concat": {"reflection_pad": "concat"},
              "instance_norm_fused+reflection_pad_concat": {"instance_norm": "fused_batch_norm",
                                                            "reflection_pad": "concat"}}


def _interleaved_ops(args) -> dict:
    """{op choice: median seconds of the CycleGAN generator's forward+backward}, calls alternating between them."""
    import types

    import tensorflow as tf

    from apps.cyclegan.config import CycleGANConfig
    from apps.cyclegan.networks import build_generator
    from common.nn import translation_networks

    size = args.cyclegan_size
    config = CycleGANConfig(image_size=size, batch_size=1)
    saved = (translation_networks.instance_norm, translation_networks.ReflectionPadding2D)
    x = tf.random.stateless_normal((1, size, size, 3), seed=(3, 4))
    weight = tf.random.stateless_normal((1, size, size, 3), seed=(5, 6))
    steps = {}
    for choice, options in OP_CHOICES.items():
        translation_networks.instance_norm, translation_networks.ReflectionPadding2D = saved
        _patch_ops(types.SimpleNamespace(**{"instance_norm": "", "reflection_pad": "", **options}))
        model = build_generator(config)
        translation_networks.instance_norm, translation_networks.ReflectionPadding2D = saved

        @tf.function
        def forward_backward(x, weight, model=model):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True) * weight)
            return tape.gradient(loss, model.trainable_weights)

        for _ in range(2):
            forward_backward(x, weight)
        steps[choice] = forward_backward
    times = {choice: [] for choice in steps}
    for _ in range(args.repeats * 3):
        for choice, step in steps.items():
            start = time.perf_counter()
            step(x, weight)
            times[choice].append(time.perf_counter() - start)
    return {choice: statistics.median(t) for choice, t in times.items()}


# ----------------------------------------------------------------------------- driver


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor()
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if flags and f in flags.group(1).split()]
    return f"{model.group(1) if model else platform.processor()} ({', '.join(wanted)}), {os.cpu_count()} CPUs"


def run_worker(variant: str, part: str, args) -> dict:
    env_add, flags, networks = VARIANTS[variant]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env_add)
    networks = ",".join(n for n in args.networks.split(",") if networks is None or n in networks) or "none"
    peaks = "--peaks" if variant == args.variants.split(",")[0] or args.peaks_in_every_process else "--no-peaks"
    command = [sys.executable, os.path.abspath(__file__), "--worker", f"--part={part}", peaks,
               f"--repeats={args.repeats}", f"--cyclegan_size={args.cyclegan_size}",
               f"--dcgan_batch={args.dcgan_batch}", f"--networks={networks}", *flags]
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{process.stderr[-3000:]}")
    sys.stderr.write("".join(line + "\n" for line in process.stderr.splitlines() if line.startswith("  ")))
    return json.loads(process.stdout.strip().splitlines()[-1])


def pass_flops_and_peak(results: dict) -> dict:
    """{pass name: (FLOPs, seconds at the worker's own per-shape peak rates)} for the passes it timed."""
    peaks, table = results["peaks"], {}
    for network, layer_list in results["layers"].items():
        if not all(_shape_key(layer) in peaks for layer in layer_list):
            continue
        forward_flops = sum(2 * layer["macs"] for layer in layer_list)
        forward_time = sum(peaks[_shape_key(layer)]["forward"] for layer in layer_list)
        backward_time = sum(peaks[_shape_key(layer)]["backward_input"] + peaks[_shape_key(layer)]["backward_filter"]
                            for layer in layer_list)
        table[f"{network} forward"] = (forward_flops, forward_time)
        table[f"{network} backward"] = (2 * forward_flops, backward_time)
        table[f"{network} forward+backward"] = (3 * forward_flops, forward_time + backward_time)
    if "dcgan_generator forward" in table and "dcgan_discriminator forward" in table:
        g, d = table["dcgan_generator forward+backward"], table["dcgan_discriminator forward+backward"]
        table["dcgan training step"] = (g[0] + 3 * d[0], g[1] + 3 * d[1])
    return table


def pass_seconds(passes: dict, name: str) -> float | None:
    if name.endswith(" backward"):
        network = name[: -len(" backward")]
        if f"{network} forward" not in passes:
            return None
        return passes[f"{network} forward+backward"]["seconds"] - passes[f"{network} forward"]["seconds"]
    return passes[name]["seconds"] if name in passes else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--part", default="passes", choices=("passes", "ops"), help=argparse.SUPPRESS)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"from {', '.join(VARIANTS)}; first: baseline")
    parser.add_argument("--interleaved_ops", action=argparse.BooleanOptionalAction, default=True,
                        help="each round, also compare CycleGAN's op choices in one process, calls alternating")
    parser.add_argument("--peaks_in_every_process", action="store_true",
                        help="every variant's process measures the peaks (default: the baseline's, and the other "
                        "variants' shares use the same round's baseline peaks)")
    parser.add_argument("--peaks", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (median)")
    parser.add_argument("--cyclegan_size", type=int, default=128)
    parser.add_argument("--dcgan_batch", type=int, default=32)
    parser.add_argument("--networks", default="dcgan,cyclegan", help="which networks' passes the workers time")
    parser.add_argument("--intra_op", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--inter_op", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)
    parser.add_argument("--steps_per_call", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--instance_norm", default="group_normalization", help=argparse.SUPPRESS)
    parser.add_argument("--reflection_pad", default="mirror_pad", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    variants = [v for v in args.variants.split(",") if v]
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}")
        if "LD_PRELOAD" in VARIANTS[name][0] and not os.path.exists(VARIANTS[name][0]["LD_PRELOAD"]):
            parser.error(f"{name}: {VARIANTS[name][0]['LD_PRELOAD']} is missing (apt-get install libjemalloc2 "
                         "libtcmalloc-minimal4)")
    print(f"CPU: {cpu_model()}; load average {os.getloadavg()[0]:.1f}; CycleGAN {args.cyclegan_size}x"
          f"{args.cyclegan_size} batch 1, DCGAN-64 RGB batch {args.dcgan_batch}; float32", flush=True)

    runs = {v: [] for v in variants}
    ops = []
    for round_index in range(args.rounds):
        for variant in variants:
            result = run_worker(variant, "passes", args)
            if not result["peaks"]:
                result["peaks"] = runs[variants[0]][-1]["peaks"]
            result["flops_peak"] = pass_flops_and_peak(result)
            runs[variant].append(result)
            best = max(2 * layer["macs"] / t for layer_list in result["layers"].values() for layer in layer_list
                       if _shape_key(layer) in result["peaks"] for t in result["peaks"][_shape_key(layer)].values())
            shown = ", ".join(f"{k} {v['seconds']:.3f} s" for k, v in result["passes"].items())
            print(f"round {round_index + 1} {variant}: {shown}; best shape {best / 1e9:.0f} GFLOP/s; "
                  f"max RSS {result['max_rss_mib']:.0f} MiB", flush=True)
        if args.interleaved_ops:
            ops.append(run_worker("baseline", "ops", args)["ops"])
            print(f"round {round_index + 1} CycleGAN generator op choices (forward+backward, one process): "
                  + ", ".join(f"{k} {v:.3f} s" for k, v in ops[-1].items()), flush=True)

    baseline = variants[0]
    names = [n for n in runs[baseline][0]["flops_peak"] if pass_seconds(runs[baseline][0]["passes"], n) is not None]

    def shares(variant, name):
        return [r["flops_peak"][name][1] / pass_seconds(r["passes"], name) for r in runs[variant]]

    print(f"\nBaseline ({baseline}), medians of {args.rounds} rounds (peak and pass measured in the same process):\n")
    print("| network and pass | GFLOP | peak for its shapes GFLOP/s | measured s | measured GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for name in names:
        flops = runs[baseline][0]["flops_peak"][name][0]
        peak = statistics.median(flops / r["flops_peak"][name][1] for r in runs[baseline])
        measured = statistics.median(pass_seconds(r["passes"], name) for r in runs[baseline])
        print(f"| {name} | {flops / 1e9:.1f} | {peak / 1e9:.1f} | {measured:.3f} | {flops / measured / 1e9:.1f} | "
              f"{100 * statistics.median(shares(baseline, name)):.0f}% |")

    print("\nVariants: median over rounds of baseline time / variant time in the same round (above 1: faster), "
          "in brackets the variant's median share of peak; CPU seconds per call (user + system) and peak RSS, "
          "medians:\n")
    shown_names = [n for n in names if n.endswith("forward+backward") or n == "dcgan training step"]
    print("| variant | " + " | ".join(shown_names) + " | CPU s (user+sys) of the CycleGAN G fwd+bwd | max RSS MiB |")
    print("|---|" + "---|" * (len(shown_names) + 2))
    for variant in variants:
        cells = []
        for name in shown_names:
            if pass_seconds(runs[variant][0]["passes"], name) is None:
                cells.append("-")
                continue
            ratios = [pass_seconds(b["passes"], name) / pass_seconds(v["passes"], name)
                      for b, v in zip(runs[baseline], runs[variant])]
            cells.append(f"{statistics.median(ratios):.2f} ({100 * statistics.median(shares(variant, name)):.0f}%)")
        cpu = [r["passes"].get("cyclegan_generator forward+backward") for r in runs[variant]]
        cpu = [c for c in cpu if c]
        cpu_text = (f"{statistics.median(c['user'] for c in cpu):.2f} + {statistics.median(c['system'] for c in cpu):.2f}"
                    if cpu else "-")
        rss = statistics.median(r["max_rss_mib"] for r in runs[variant])
        print(f"| {variant} | " + " | ".join(cells) + f" | {cpu_text} | {rss:.0f} |")
    if ops:
        print("\nCycleGAN generator forward+backward by op choice, one process, calls alternating; median over rounds "
              "of the current ops' time / the choice's time in the same round:\n")
        print("| op choice | s (median) | current / choice |")
        print("|---|---|---|")
        for choice in ops[0]:
            ratio = statistics.median(o["current"] / o[choice] for o in ops)
            print(f"| {choice} | {statistics.median(o[choice] for o in ops):.3f} | {ratio:.2f} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
