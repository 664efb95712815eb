"""Training settings: validation, presets and the text form the benchmarks use for variants."""

import pytest

import singan_seg as ss


def test_config_from_spec_changes_only_the_named_settings():
    cfg = ss.config_from_spec("paper:gp_every=4,d_steps=1,norm=instance,lr_g=1e-4", max_size=128)
    assert (cfg.gp_every, cfg.d_steps, cfg.norm, cfg.lr_g, cfg.max_size) == (4, 1, "instance", 1e-4, 128)
    assert cfg.replace(gp_every=1, d_steps=3, norm="batch", lr_g=5e-4) == ss.get_preset("paper", max_size=128)
    assert ss.config_from_spec("paper") == ss.get_preset("paper")


@pytest.mark.parametrize("spec,message", [
    ("fast:gp_every", "bad setting 'gp_every'"),
    ("fast:gp_evry=2", r"unknown training settings \['gp_evry'\]"),
    ("fats:gp_every=2", "did you mean 'fast'"),
    ("fast:gp_every=0", "gp_every should be a positive integer"),
])
def test_config_from_spec_refuses_bad_text(spec, message):
    with pytest.raises(ss.InputError, match=message):
        ss.config_from_spec(spec)


def test_lazy_penalty_weights():
    cfg = ss.get_preset("paper", gp_every=3)
    assert [cfg.penalty_weight(step) for step in range(7)] == pytest.approx([0.3, 0, 0, 0.3, 0, 0, 0.3])
    assert all(ss.get_preset("paper").penalty_weight(step) == pytest.approx(0.1) for step in range(5))


def test_iterations_taper_geometrically_to_the_finest_fraction():
    geometric = ss.get_preset("paper", iters_per_scale=1000, finest_iters_fraction=0.1)
    assert [geometric.iters_at(n, 5) for n in range(5)] == [1000, 562, 316, 178, 100]  # x 0.1 ** (1/4) per scale
    assert ss.get_preset("paper").iters_at(8, 9) == 2000  # SinGAN: the same at every scale
    with pytest.raises(ss.InputError, match="iters_taper should be"):
        ss.get_preset("paper", iters_taper="cosine")


def test_a_fixed_ratio_gives_every_depth_of_pyramid_the_same_counts():
    ratio = ss.get_preset("paper", iters_per_scale=1000, iters_taper="ratio", iters_ratio=0.5,
                          finest_iters_fraction=0.1)
    assert [ratio.iters_at(n, 4) for n in range(4)] == [1000, 500, 250, 125]
    assert [ratio.iters_at(n, 3) for n in range(3)] == [1000, 500, 250]  # a shallower pyramid: its first ones
    assert [ratio.iters_at(n, 6) for n in range(6)] == [1000, 500, 250, 125, 100, 100]  # deeper: the floor
    geometric = ratio.replace(iters_taper="geometric", finest_iters_fraction=0.25)
    assert [geometric.iters_at(n, 3) for n in range(3)] == [1000, 500, 250]
    assert [geometric.iters_at(n, 2) for n in range(2)] == [1000, 250]  # squeezed into 2 scales
    with pytest.raises(ss.InputError, match="iters_ratio should be in"):
        ratio.replace(iters_ratio=0)


def test_the_finest_scale_can_take_its_own_noise_factor():
    cfg = ss.get_preset("fast")  # 0.7: 1.2 at the finest scale, 0.4 below it
    assert [cfg.noise_amp_factor(n, 7) for n in (1, 5, 6)] == [0.4, 0.4, 1.2]
    assert ss.get_preset("paper").noise_amp_factor(8, 9) == 0.1  # None: the same factor everywhere
    with pytest.raises(ss.InputError, match="noise_amp_finest should be positive or null"):
        ss.get_preset("fast", noise_amp_finest=-1)


def test_quality_is_fast_with_more_iterations_at_every_scale():
    fast, quality = ss.get_preset("fast"), ss.get_preset("quality")
    same_schedule = {"iters_per_scale": fast.iters_per_scale, "finest_iters_fraction": fast.finest_iters_fraction,
                     "iters_taper": fast.iters_taper, "sample_variation": fast.sample_variation}
    assert quality.replace(**same_schedule) == fast
    assert quality.sample_variation == 1.0  # it beats paper with SinGAN's own sampler
    assert [quality.iters_at(n, 9) for n in range(9)] == [2000, 1834, 1682, 1542, 1414, 1297, 1189, 1091, 1000]


def test_fast_trains_every_pyramid_depth_with_the_250px_counts():
    fast = ss.get_preset("fast")
    counts = [1300, 992, 758, 578, 442, 337, 257, 197, 150]  # 0.8-0.9's geometric taper over 9 scales
    assert [fast.iters_at(n, 9) for n in range(9)] == counts
    assert [fast.iters_at(n, 7) for n in range(7)] == counts[:7]  # 128 px (0.9: 1300 -> 150 over these 7)
    assert [fast.iters_at(n, 10) for n in range(10)] == counts + [150]  # never under 150


def test_sampling_defaults_are_not_training_settings():
    fast = ss.get_preset("fast")
    assert fast.sample_variation == 0.65 and ss.get_preset("paper").sample_variation == 1.0
    assert "sample_variation" not in fast.training_dict()
    assert fast.replace(sample_variation=1.0).training_dict() == fast.training_dict()
    with pytest.raises(ss.InputError, match="sample_variation should be in"):
        ss.get_preset("fast", ["sample_variation=1.5"])


def test_configs_saved_with_retired_no_op_settings_still_load_and_others_are_refused():
    """0.11 wrote concurrent_*, iters_taper='linear' and critic_norm into every config.json; the values that made
    them no-ops load as the same config, and a model that really used them is refused with a clear reason."""
    saved_paper = ss.get_preset("paper").to_dict() | {"concurrent_scales": 1, "concurrent_lr_scale": 0.1,
                                                      "concurrent_every": 1, "iters_taper": "linear"}
    assert ss.TrainConfig.from_dict(saved_paper) == ss.get_preset("paper")
    saved_fast = ss.get_preset("fast").to_dict() | {"critic_norm": "instance"}  # equal to norm: as "same"
    assert ss.TrainConfig.from_dict(saved_fast) == ss.get_preset("fast", ["critic_norm=same"])
    for retired in ({"concurrent_scales": 2}, {"concurrent_every": 3},
                    {"iters_taper": "linear", "finest_iters_fraction": 0.5}, {"critic_norm": "batch"}):
        with pytest.raises(ss.InputError, match="removed in 0.12"):
            ss.TrainConfig.from_dict(saved_fast | retired)
    with pytest.raises(ss.InputError, match="unknown training settings"):
        ss.get_preset("fast", ["concurrent_scales=2"])
