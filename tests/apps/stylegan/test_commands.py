"""StyleGAN through the runtime on the offline digits at tiny widths, growing 8 -> 16: a run interrupted in
the middle of the 16x16 fade and resumed ends bit-identical to an uninterrupted one (the tracked mean of w,
the noise states and the optimizers included); a restored checkpoint samples in its phase; the export's six
signatures match the restored generator and mean what they say (truncation, mapping -> synthesis, style
mixing). The train and export commands run the whole default schedule without an error line."""

import glob
import io
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.export import export_stylegan
from apps.stylegan.model import build_model, make_optimizers
from common.evaluation import evaluate_command
from common.export import generator_export
from common.nn import style_layers as sl
from common.training import checkpointing, runtime
from common.training.runtime_config import RuntimeConfig
from tests.commands import error_lines, start_command
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale

TIMEOUT_SECONDS = 300
# Phases: 8x8 step 0; 16x16 (batch 2) from step 1, fading over steps 1 and 2, stable from step 3.
CONFIG = StyleGANConfig(image_size=16, channels=1, latent_dim=8, dlatent_dim=8, mapping_layers=2, mapping_fmaps=8,
                        fmap_base=16, fmap_max=8, batch_size=4, batch_sizes="16:2", fade_images=4, stable_images=4,
                        minibatch_group_size=2, truncation_cutoff=4, seed=2)
STEPS = 4


def _train(model_dir, steps):
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=4, steps=steps, seed=2, log_every=1,
                        checkpoint_every=1, keep_checkpoints=20, sample_every=0, strategy="default",
                        precision="float32")
    return runtime.train(
        app="stylegan", config=CONFIG, run=run, build_model=build_model,
        build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
        stages=CONFIG.schedule(lambda phase: runtime.image_dataset_fn(
            run.replace(batch_size=phase.batch_size, seed=run.seed + phase.index), CONFIG)),
        stream=io.StringIO())


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as file:
        return [json.loads(line) for line in file]


def test_resume_mid_fade_is_exact_and_the_export_signatures_match_the_generator(tmp_path):
    straight = _train(tmp_path / "straight", STEPS)
    logs = _metrics(str(tmp_path / "straight"))
    assert [(line["resolution"], line["alpha"]) for line in logs] == [(8.0, 1.0), (16.0, 0.0), (16.0, 0.5),
                                                                       (16.0, 1.0)]
    # The run as it was after step 2 (16x16 at alpha 1/2), resumed to step 4.
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for path in glob.glob(str(tmp_path / "resumed" / "ckpt-[34]*")):
        os.remove(path)
    kept = [p for p in checkpointing.list_checkpoints(str(tmp_path / "resumed")) if os.path.exists(p + ".index")]
    assert os.path.basename(kept[-1]) == "ckpt-2", kept
    checkpointing._write_state_file(str(tmp_path / "resumed"), kept)
    resumed = _train(tmp_path / "resumed", STEPS)
    assert resumed.start_step == 2 and resumed.step == STEPS

    def state(model):
        return model.variables + model.g_optimizer.variables + model.d_optimizer.variables

    assert len(state(straight.model)) == len(state(resumed.model))
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert _metrics(str(tmp_path / "resumed"))[-2:] == logs[-2:]
    assert np.any(straight.model.generator.dlatent_avg.average.numpy() != 0)

    # A restored checkpoint samples in its phase at full size; the export matches its moving average.
    model, path = runtime.restore_app_for_inference(str(tmp_path / "resumed"), StyleGANConfig, build_model)
    sample_fn = evaluate_command.make_sample_fn(model)  # calls prepare_sampling
    assert model.ema.shadow.resolution == 16 and sample_fn(3).shape == (3, 16, 16, 1)
    generator = model.ema.shadow
    # After 4 steps the noise scales are still near 0 and the first layers' instance norms divide by the
    # spread of nearly constant maps, which magnifies float32 rounding; scales of 0.5 make the eager
    # comparisons below well conditioned (the export's own parity check compares graphs).
    for noise in generator.noises:
        noise.weight.assign(np.full(noise.weight.shape, 0.5, np.float32))
    written = export_stylegan(generator, str(tmp_path / "export"), metadata={"step": STEPS})
    with open(os.path.join(written, "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["num_layers"] == 6 and info["parity"]["style_mix"]["max_uint8_difference"] <= 1
    loaded = tf.saved_model.load(written)
    z = generator_export.sample_latents(7, 3, 8)
    w = loaded.signatures["mapping"](z=z)["w"]
    dlatents = tf.repeat(w[:, None], 6, axis=1)
    through_w = loaded.signatures["synthesis"](dlatents=dlatents)["images_float"].numpy()
    direct = loaded.signatures["generate_float"](z=z, truncation_psi=tf.constant(1.0))["images_float"].numpy()
    # Two graphs of one float32 network: NETWORK_RTOL of the images' scale (a linear output).
    assert_close_to_scale(through_w, direct, rtol=NETWORK_RTOL)
    assert_close_to_scale(direct, generator.generate(z, 1.0, noise_mode="const").numpy(), rtol=NETWORK_RTOL)
    mean_images = loaded.signatures["generate_float"](z=z, truncation_psi=tf.constant(0.0))["images_float"].numpy()
    # psi = 0 on the first 4 of 6 layers: the coarse styles are the mean for every z, the fine ones are not.
    coarse = tf.repeat(generator.dlatent_avg.average[None, None], 4, axis=1)
    expected = generator.render(tf.concat([tf.repeat(coarse, 3, axis=0), generator.dlatents(z)[:, 4:]], 1))
    assert_close_to_scale(mean_images, expected.numpy(), rtol=NETWORK_RTOL)
    # style_mix(a, b, crossover) is b's image at crossover 0 and a's at 6 (every layer from a).
    sampled = loaded.signatures["sample"](seed=tf.constant(5, tf.int64), count=tf.constant(1, tf.int32),
                                          truncation_psi=tf.constant(0.7))["images"].numpy()
    for crossover, seeds in ((6, (5, 9)), (0, (9, 5))):
        mixed = loaded.signatures["style_mix"](seeds_a=tf.constant([seeds[0]], tf.int64),
                                               seeds_b=tf.constant([seeds[1]], tf.int64),
                                               crossover_layer=tf.constant(crossover),
                                               truncation_psi=tf.constant(0.7))["images"].numpy()
        # Two signatures' graphs of one function: uint8 images within one level (rounding of the float image).
        assert np.max(np.abs(mixed.astype(np.int32) - sampled.astype(np.int32))) <= 1
    mix = sl.mix_dlatents(generator.dlatents(z[:1]), generator.dlatents(z[1:2]), 2)
    assert not np.array_equal(generator.render(mix).numpy(), generator.render(generator.dlatents(z[:1])).numpy())


def test_train_and_export_commands_run_the_default_schedule_without_error_lines(tmp_path):
    # 8x8 for 1 step, then 16x16: 1 fade step and 1 stable step; no --steps: the schedule's 3.
    model_dir, export_dir = tmp_path / "run", tmp_path / "export"
    done = start_command("apps.stylegan.train", f"--model_dir={model_dir}", "--image_size=16", "--channels=1",
                         "--latent_dim=8", "--dlatent_dim=8", "--mapping_layers=2", "--mapping_fmaps=8",
                         "--fmap_base=8", "--fmap_max=4", "--batch_size=4", "--batch_sizes=", "--learning_rates=",
                         "--minibatch_group_size=2", "--fade_images=4", "--stable_images=4", "--sample_every=3",
                         "--num_samples=4")
    stdout, stderr = done.communicate(timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, stderr[-3000:]
    assert "Training stylegan for 3 steps" in stdout
    assert error_lines(stderr) == [], "\n".join(error_lines(stderr))
    assert [(line["resolution"], line["alpha"]) for line in _metrics(str(model_dir))] == [
        (8.0, 1.0), (16.0, 0.0), (16.0, 1.0)]
    done = start_command("apps.stylegan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    stdout, stderr = done.communicate(timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, stderr[-3000:]
    assert "Exported step 3 (EMA generator) to" in stdout
    assert sorted(tf.saved_model.load(str(export_dir / "1")).signatures) == [
        "generate_float", "mapping", "sample", "serving_default", "style_mix", "synthesis"]
