"""The training-cost estimate: per scale, the cost of an iteration and the set-up, projected to a config."""

import pytest

import singan_seg as ss
from singan_seg.estimate import measure_training_cost


def test_projection_is_iterations_times_cost_plus_setup(phantom):
    cfg = ss.get_preset("tiny", iters_per_scale=40, finest_iters_fraction=0.5, gp_every=2)
    cost = measure_training_cost(phantom, cfg, timed=3)
    scales = len(cost.shapes)
    assert len(cost.seconds_per_iter) == len(cost.setup_seconds) == len(cost.iters) == scales
    assert cost.iters == [cfg.iters_at(n, scales) for n in range(scales)] and cost.iters[-1] == 20
    assert all(s > 0 for s in cost.seconds_per_iter) and all(s >= 0 for s in cost.setup_seconds)
    expected = sum(s * i for s, i in zip(cost.seconds_per_iter, cost.iters)) + sum(cost.setup_seconds)
    assert cost.seconds == pytest.approx(expected)
