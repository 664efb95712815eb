"""Training and sampling end to end: shapes, value ranges, mask alignment, determinism, resume."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import singan_seg as ss
from singan_seg.model import load_model
from singan_seg.data.tensors import build_reals
from singan_seg.training import loop as train_loop
from singan_seg.training.progress import TrainProgress
from singan_seg.training.resume import STATE_FILE, TENSORS_FILE


def weights_of(model):
    return {k: v.clone() for k, v in model.generators.state_dict().items()}


def test_four_channel_shapes_end_to_end(small_model, phantom):
    assert small_model.is_complete and small_model.num_scales >= 4
    reals = build_reals(phantom, small_model.shapes, torch.device("cpu"))
    for real, shape in zip(reals, small_model.shapes):
        assert real.shape == (1, 4, *shape) and real.min() >= -1 and real.max() <= 1
    batch = small_model.generate(3, seed=0)
    assert batch.shape == (3, 4, *small_model.shapes[-1])
    assert batch.min() >= -1 and batch.max() <= 1
    s = ss.sample(small_model, num=3, seed=0)
    h, w = small_model.shapes[-1]
    assert s.images.shape == (3, h, w, 3) and s.images.dtype == np.uint8
    assert s.masks.shape == (3, h, w) and s.masks.dtype == bool
    assert ((s.soft_masks > 0.5) == s.masks).all()


def redness(images, masks):
    """Mean R/(G+B) inside and outside each mask."""
    rgb = images.astype(np.float64) + 1
    ratio = rgb[..., 0] / (rgb[..., 1] + rgb[..., 2])
    return np.array([[ratio[i][m].mean(), ratio[i][~m].mean()] for i, m in enumerate(masks)])


def test_generated_masks_fit_their_images(small_model, phantom):
    """The mask is not noise: it covers a polyp-sized region and sits on the redder, polyp-like blob."""
    s = ss.sample(small_model, num=8, seed=1)
    fractions = s.masks.mean(axis=(1, 2))
    assert ((fractions > 0.02) & (fractions < 0.5)).all(), fractions
    inside, outside = redness(s.images, s.masks).T
    real_in, real_out = redness(phantom.image[None], phantom.mask[None])[0]
    assert real_in > real_out  # the phantom's polyp is redder than the mucosa
    assert (inside > outside).mean() >= 0.75, (inside, outside)
    # and a random mask of the same size would not line up: shifting the masks away destroys the contrast
    shifted = np.roll(s.masks, shift=s.masks.shape[2] // 2, axis=2)
    assert (inside - outside).mean() > 2 * np.abs(np.subtract(*redness(s.images, shifted).T)).mean()


def test_samples_vary_and_start_scale_controls_how_much(small_model):
    coarse = ss.sample(small_model, num=4, seed=0, start_scale=0).images.astype(float)
    fine = ss.sample(small_model, num=4, seed=0, start_scale=small_model.num_scales - 1).images.astype(float)
    spread = lambda x: np.abs(x - x.mean(axis=0)).mean()  # noqa: E731
    assert spread(coarse) > 1.0  # samples differ
    assert spread(fine) < spread(coarse)  # higher start scale keeps the real layout


def test_variation_narrows_the_layout_towards_the_real_one(small_model, phantom):
    """variation 1 is the plain sampler; lower values keep samples nearer the reconstruction, down to v = 0,
    where only the finer scales' noise varies."""
    spread = lambda x: np.abs(x - x.mean(axis=0)).mean()  # noqa: E731
    plain = ss.sample(small_model, num=6, seed=3)
    full = ss.sample(small_model, num=6, seed=3, variation=1.0)
    assert (full.images == plain.images).all() and (full.masks == plain.masks).all()
    spreads = [spread(ss.sample(small_model, num=6, seed=3, variation=v).images.astype(float))
               for v in (1.0, 0.5, 0.0)]
    assert spreads[0] > spreads[1] > spreads[2], spreads
    # v = 0 at start 0 is the reconstruction's layout: as close to it as sampling from the scale above
    rec_layout = ss.sample(small_model, num=6, seed=3, start_scale=1).images.astype(float)
    assert spreads[2] <= 1.5 * spread(rec_layout) + 0.5
    assert ss.sample(small_model, num=6, seed=3, variation=0.5).variation == 0.5


@pytest.mark.parametrize("kwargs, fragment", [
    ({"variation": 1.5}, "variation should be in [0, 1]"),
    ({"variation": -0.1}, "variation should be in [0, 1]"),
    ({"variation": 0.5, "start_scale": 1}, "variation applies to start scale 0"),
    ({"variation": 0.5, "scale_w": 1.5}, "needs the training size"),
])
def test_variation_refuses_what_it_cannot_do(small_model, kwargs, fragment):
    with pytest.raises(ss.InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        ss.sample(small_model, num=1, **kwargs)


def test_a_models_own_variation_is_its_default_where_it_applies(small_model):
    """A model samples at its preset's `sample_variation` when no variation is given, and at 1 where that cannot
    apply (a higher start scale, another size, no reconstruction noise); a variation given is used as given."""
    own = dataclasses.replace(small_model, config=small_model.config.replace(sample_variation=0.5))
    default, given = ss.sample(own, num=4, seed=3), ss.sample(small_model, num=4, seed=3, variation=0.5)
    assert default.variation == 0.5 and (default.images == given.images).all()
    assert (ss.sample(own, num=4, seed=3, variation=1.0).images != default.images).any()
    assert ss.sample(own, num=2, seed=3, start_scale=1).variation == 1.0
    assert ss.sample(own, num=2, seed=3, scale_w=1.5).variation == 1.0
    shared = dataclasses.replace(own, rec_noise=None)  # as loaded from a pack without the reconstruction noise
    plain = ss.sample(shared, num=4, seed=3)
    assert plain.variation == 1.0 and (plain.images == ss.sample(small_model, num=4, seed=3).images).all()
    with pytest.raises(ss.InputError, match="shared without its reconstruction noise"):
        ss.sample(shared, num=1, variation=0.5)


def test_sampling_is_deterministic_and_per_sample(small_model):
    a = ss.sample(small_model, num=4, seed=5)
    b = ss.sample(small_model, num=4, seed=5)
    assert (a.images == b.images).all() and (a.masks == b.masks).all()
    c = ss.sample(small_model, num=2, seed=5, first_index=2)  # sample i depends on (seed, i) only
    assert (c.images == a.images[2:]).all()
    assert (ss.sample(small_model, num=4, seed=6).images != a.images).any()


def test_other_output_sizes(small_model):
    h, w = small_model.shapes[-1]
    s = ss.sample(small_model, num=2, seed=0, height=h + 10, width=2 * w)
    assert s.images.shape == (2, h + 10, 2 * w, 3) and s.masks.shape == (2, h + 10, 2 * w)
    s = ss.sample(small_model, num=1, seed=0, scale_w=1.5)
    assert s.images.shape[1:3] == (h, round(w * 1.5))
    with pytest.raises(ss.InputError):
        ss.sample(small_model, num=1, height=h, scale_w=2.0)


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed(phantom):
    cfg = ss.get_preset("tiny")
    a = ss.train(phantom, config=cfg, device="cpu", progress=False)
    b = ss.train(phantom, config=cfg, device="cpu", progress=False)
    c = ss.train(phantom, config=cfg.replace(seed=1), device="cpu", progress=False)
    wa, wb, wc = weights_of(a), weights_of(b), weights_of(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path, phantom):
    cfg = ss.get_preset("tiny")
    full = ss.train(phantom, out_dir=tmp_path / "full", config=cfg, device="cpu", progress=False)
    part = tmp_path / "part"
    ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, stop_after_scale=1)
    with pytest.raises(ss.CheckpointError, match="incomplete"):
        ss.load(part, device="cpu")
    resumed = ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, resume=True)
    wf, wr = weights_of(full), weights_of(resumed)
    assert wf.keys() == wr.keys()
    assert all(torch.equal(wf[k], wr[k]) for k in wf)
    assert full.noise_amps == resumed.noise_amps
    assert (ss.sample(part, num=2, device="cpu").images == ss.sample(tmp_path / "full", num=2,
                                                                     device="cpu").images).all()


def _interrupt_at(monkeypatch, where):
    """Make training raise KeyboardInterrupt once, as iteration `where` = (scale, iteration) ends; record the
    calls to the progress display."""
    calls, armed = [], [True]

    def advance(self, scale, iteration, iterations, **losses):
        calls.append((scale, iteration))
        if (scale, iteration) == where and armed:
            armed.clear()
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainProgress, "advance", advance)
    return calls


# (scale 0, iteration 27): after the lr decay (iteration 24 of 30), in a directory with no finished scale yet;
# (scale 1, iteration 17): before it, so the resumed run must still apply the decay.
@pytest.mark.parametrize("where", [(0, 27), (1, 17)])
@pytest.mark.slow
def test_resume_mid_scale_equals_uninterrupted(tmp_path, phantom, monkeypatch, where):
    cfg = ss.get_preset("tiny", gp_every=2)
    full = ss.train(phantom, config=cfg, device="cpu", progress=False)
    part = tmp_path / "part"
    calls = _interrupt_at(monkeypatch, where)
    with pytest.raises(KeyboardInterrupt):
        ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, checkpoint_minutes=0)
    state = json.loads((part / STATE_FILE).read_text())
    assert (state["scale"], state["iterations_done"]) == (where[0], where[1] - 1)  # the last whole iteration

    calls.clear()
    resumed = ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, resume=True)
    assert calls[0] == (where[0], where[1])  # continued, not restarted
    wf, wr = weights_of(full), weights_of(resumed)
    assert all(torch.equal(wf[k], wr[k]) for k in wf)
    assert full.noise_amps == resumed.noise_amps
    assert not (part / STATE_FILE).exists() and not (part / TENSORS_FILE).exists()  # folded into the model


@pytest.mark.slow
def test_a_damaged_mid_scale_state_is_refused_and_a_leftover_ignored(tmp_path, phantom, monkeypatch):
    cfg = ss.get_preset("tiny")
    part = tmp_path / "part"
    _interrupt_at(monkeypatch, (1, 10))
    with pytest.raises(KeyboardInterrupt):
        ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, checkpoint_minutes=0)
    monkeypatch.undo()
    tensors = (part / TENSORS_FILE).read_bytes()
    middle = len(tensors) // 2
    (part / TENSORS_FILE).write_bytes(tensors[:middle] + bytes([tensors[middle] ^ 1]) + tensors[middle + 1:])
    with pytest.raises(ss.CheckpointError, match="delete both"):
        ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, resume=True)

    # A state that continues other weights (here: saved before scale 0 was retrained) is not applied.
    (part / TENSORS_FILE).write_bytes(tensors)
    state = json.loads((part / STATE_FILE).read_text())
    (part / STATE_FILE).write_text(json.dumps(state | {"base_weights_sha256": "0" * 64}))
    calls = _interrupt_at(monkeypatch, (9, 9))
    ss.train(phantom, out_dir=part, config=cfg, device="cpu", progress=False, resume=True)
    assert calls[0] == (1, 1)


def _scale_weights(model, scale):
    """One scale's generator weights, from `weights_of` (whose keys are "<scale>.<name>")."""
    prefix = f"{scale}."
    return {k[len(prefix):]: v for k, v in weights_of(model).items() if k.startswith(prefix)}


def test_training_a_scale_leaves_the_finished_scales_exactly_as_they_were(tmp_path, phantom):
    """SinGAN trains one scale at a time: scale n changes no weight or noise amplitude of the scales below."""
    cfg = ss.get_preset("tiny")
    out = tmp_path / "model"
    ss.train(phantom, out_dir=out, config=cfg, device="cpu", progress=False, stop_after_scale=1)
    before = load_model(out, "cpu", require_complete=False)[0]
    after = ss.train(phantom, out_dir=out, config=cfg, device="cpu", progress=False, resume=True,
                     stop_after_scale=2)
    assert after.trained_scales == 3
    for scale in (0, 1):
        old, new = _scale_weights(before, scale), _scale_weights(after, scale)
        assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old), scale
    assert before.noise_amps == after.noise_amps[:2]


def test_resume_refuses_other_settings(tmp_path, phantom):
    cfg = ss.get_preset("tiny")
    ss.train(phantom, out_dir=tmp_path / "m", config=cfg, device="cpu", progress=False, stop_after_scale=0)
    with pytest.raises(ss.CheckpointError, match="iters_per_scale 30 .saved. vs 31"):
        ss.train(phantom, out_dir=tmp_path / "m", config=cfg.replace(iters_per_scale=31), device="cpu",
                 progress=False, resume=True)
    # a sampling default is not a training setting: the run resumes, and the model keeps the one it started with
    model = ss.train(phantom, out_dir=tmp_path / "m", config=cfg.replace(sample_variation=0.5), device="cpu",
                     progress=False, resume=True)
    assert model.is_complete and model.config.sample_variation == cfg.sample_variation


def test_resume_accepts_a_checkpoint_saved_before_a_setting_existed(tmp_path, phantom):
    cfg = ss.get_preset("tiny")
    ss.train(phantom, out_dir=tmp_path / "m", config=cfg, device="cpu", progress=False, stop_after_scale=0)
    meta_file = tmp_path / "m" / "config.json"
    meta = json.loads(meta_file.read_text())
    del meta["config"]["gp_every"]  # as written by 0.2.x; the default (1) is what it was trained with
    meta_file.write_text(json.dumps(meta))
    model = ss.train(phantom, out_dir=tmp_path / "m", config=cfg, device="cpu", progress=False, resume=True)
    assert model.is_complete
    with pytest.raises(ss.CheckpointError, match="gp_every 1 .saved. vs 2"):
        ss.train(phantom, out_dir=tmp_path / "m", config=cfg.replace(gp_every=2), device="cpu", progress=False,
                 resume=True)


def test_lazy_penalty_applies_on_every_kth_critic_update_at_k_times_the_weight(phantom, monkeypatch):
    calls = []
    real_penalty = train_loop.gradient_penalty

    def counting(critic, real, fake, weight, generator):
        calls.append(weight)
        return real_penalty(critic, real, fake, weight, generator)

    monkeypatch.setattr(train_loop, "gradient_penalty", counting)
    cfg = ss.get_preset("tiny", iters_per_scale=10, d_steps=2, gp_every=3)
    model = ss.train(phantom, config=cfg, device="cpu", progress=False)
    per_scale = len(range(0, 10 * 2, 3))  # critic updates 0, 3, ..., 18 of each scale's 20
    assert len(calls) == per_scale * model.num_scales
    assert calls == pytest.approx([3 * cfg.gp_weight] * len(calls))
    calls.clear()
    ss.train(phantom, config=cfg.replace(gp_every=1), device="cpu", progress=False)
    assert len(calls) == 20 * model.num_scales and calls == pytest.approx([cfg.gp_weight] * len(calls))


@pytest.mark.slow
def test_the_finest_scale_takes_its_own_noise_factor(phantom):
    cfg = ss.get_preset("tiny", noise_amp_init=0.1)
    plain = ss.train(phantom, config=cfg, device="cpu", progress=False)
    louder = ss.train(phantom, config=cfg.replace(noise_amp_finest=0.7), device="cpu", progress=False)
    assert louder.noise_amps[:-1] == plain.noise_amps[:-1]  # the coarser scales train exactly as before
    assert louder.noise_amps[-1] == pytest.approx(7 * plain.noise_amps[-1], rel=1e-6)
    w_plain, w_louder = weights_of(plain), weights_of(louder)
    finest = f"{plain.num_scales - 1}."
    assert all(torch.equal(w_plain[k], w_louder[k]) for k in w_plain if not k.startswith(finest))
    assert not all(torch.equal(w_plain[k], w_louder[k]) for k in w_plain if k.startswith(finest))


def test_checkpoint_round_trip(tiny_model_dir):
    model, meta, _ = load_model(tiny_model_dir)
    again = ss.load(tiny_model_dir, device="cpu")
    assert meta["format_version"] == 1 and meta["complete"] and len(meta["noise_amps"]) == model.num_scales
    assert meta["config"] == ss.get_preset("tiny").to_dict()
    assert (ss.sample(model, num=2, seed=3).images == ss.sample(again, num=2, seed=3).images).all()
    assert torch.allclose(model.reconstruct(), again.reconstruct())


def test_reconstruction_approaches_the_real_pair(small_model, phantom):
    real = build_reals(phantom, small_model.shapes, torch.device("cpu"))[-1]
    rec = small_model.reconstruct()
    assert torch.sqrt(torch.mean((rec - real) ** 2)) < 0.2  # the fixed noise map reproduces the real pair
