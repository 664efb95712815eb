"""The training-cost estimate: per scale, the cost of an iteration and the set-up, projected to a config."""

import pytest

import singan_seg as ss
from singan_seg.training import estimate
from singan_seg.training.estimate import measure_training_cost


@pytest.mark.slow
def test_projection_is_iterations_times_cost_plus_setup(phantom):
    cfg = ss.get_preset("tiny", iters_per_scale=40, finest_iters_fraction=0.5, gp_every=2)
    cost = measure_training_cost(phantom, cfg, timed=3)
    scales = len(cost.shapes)
    assert len(cost.seconds_per_iter) == len(cost.setup_seconds) == len(cost.iters) == scales
    assert cost.iters == [cfg.iters_at(n, scales) for n in range(scales)] and cost.iters[-1] == 20
    assert all(s > 0 for s in cost.seconds_per_iter) and all(s >= 0 for s in cost.setup_seconds)
    expected = sum(s * i for s, i in zip(cost.seconds_per_iter, cost.iters)) + sum(cost.setup_seconds)
    assert cost.seconds == pytest.approx(expected)


@pytest.mark.slow
def test_timed_runs_are_whole_cycles_of_the_lazy_penalty(phantom, monkeypatch):
    """Iterations differ in cost with the lazy penalty (on every gp_every-th critic update): the timed difference
    must span whole cycles of it, or the projection over- or under-counts the penalty."""
    lengths = []
    real_train_scale = estimate.train_scale

    def recording(n, model, reals, cfg, *args, **kwargs):
        lengths.append(cfg.iters_per_scale)
        return real_train_scale(n, model, reals, cfg, *args, **kwargs)

    monkeypatch.setattr(estimate, "train_scale", recording)
    cfg = ss.get_preset("tiny", gp_every=3)
    measure_training_cost(phantom, cfg, timed=4)
    assert lengths[:3] == [1, 3, 9]  # warm-up, one cycle of 3, one cycle + 4 rounded up to whole cycles (6)
