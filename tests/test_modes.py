"""Quality modes, the sampler's knobs (top-p, churn, schedule, candidates, redraws, selection) and
the honesty rule: selection and constraints never read the metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inertialar.sampling import ranking
from inertialar.sampling.modes import MODES, describe_settings, mode_settings
from inertialar.sampling.sampler import MIN_DISTANCE, REACH, insane, nucleus, sample, sample_draws
from inertialar.sampling.settings import SampleSettings
from inertialar.sampling.trajectory import Trajectory

ROOT = Path(__file__).resolve().parent.parent


def _same(a, b) -> None:
    assert len(a.molecules) == len(b.molecules)
    for x, y in zip(a.molecules, b.molecules):
        assert x.elements == y.elements
        np.testing.assert_allclose(x.coords, y.coords, atol=1e-4)


def test_modes_are_documented_presets_of_the_sample_settings():
    assert list(MODES) == ["raw", "fast", "best"]
    raw = mode_settings("raw")
    assert (raw.temperature, raw.top_p, raw.coord_temperature, raw.churn, raw.redraws, raw.coord_draws,
            raw.oversample) == (1.0, 1.0, 1.0, 0.0, 0, 1, 1)  # the model's own distribution
    assert raw.sigma_max is None
    assert mode_settings("fast").oversample == 1  # fast never oversamples
    assert mode_settings("fast") == SampleSettings()  # fast is the settings' own defaults
    assert mode_settings().mode == "fast"  # the default mode
    best = mode_settings("best")
    assert best.oversample > 1 or best.coord_draws > 1
    for m in MODES.values():
        s = mode_settings(m.name)
        s.validate(28)
        assert s.mode == m.name and m.summary and describe_settings(s)
        doc = (ROOT / "inertialar" / "sampling" / "modes.py").read_text()
        assert f"``{m.name}``" in doc  # each mode is written down in the module docstring


def test_flags_override_a_mode_and_unknown_names_fail():
    s = mode_settings("best", n=3, steps=5, temperature=None)
    assert (s.n, s.steps, s.mode) == (3, 5, "best")
    assert s.temperature == MODES["best"].settings["temperature"]  # None = not given: the mode's value
    with pytest.raises(ValueError, match="unknown mode"):
        mode_settings("turbo")
    with pytest.raises(ValueError, match="unknown sample setting"):
        mode_settings("fast", temprature=0.3)


@pytest.mark.parametrize("mode", list(MODES))
def test_same_seed_and_mode_give_the_same_molecules(tiny_model, mode):
    s = mode_settings(mode, n=3, seed=5, steps=2)
    a, b = sample(tiny_model, s), sample(tiny_model, mode_settings(mode, n=3, seed=5, steps=2, batch_size=2))
    _same(a, b)
    assert a.drawn == s.draws
    c = sample(tiny_model, mode_settings(mode, n=3, seed=6, steps=2))
    assert any(x.coords.shape != y.coords.shape or not np.allclose(x.coords, y.coords)
               for x, y in zip(a.molecules, c.molecules))


def test_each_knob_is_reproducible_and_batch_independent(tiny_model):
    for knob in (dict(top_p=0.0), dict(top_p=0.8), dict(churn=5.0, churn_temperature=0.5), dict(sigma_max=80.0),
                 dict(coord_draws=3), dict(redraws=2), dict(oversample=3, rank="type_z_probe"),
                 dict(present=("ether",), cfg_scale=2.0, coord_draws=2, churn=3.0)):
        base = dict(n=4, seed=2, steps=3, **knob)
        _same(sample(tiny_model, SampleSettings(batch_size=4, **base)),
              sample(tiny_model, SampleSettings(batch_size=3, **base)))


def test_greedy_types_take_the_most_likely_type():
    probs = torch.tensor([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4]])
    assert torch.equal(nucleus(probs, torch.zeros(2)), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    kept = nucleus(probs, torch.tensor([0.8, 1.0]))
    torch.testing.assert_close(kept[0], torch.tensor([0.0, 5 / 9, 4 / 9]))  # 0.5 + 0.4 reaches 0.8
    torch.testing.assert_close(kept[1], probs[1])


def test_geometric_sanity_flags_clashes_and_stray_atoms():
    earlier = torch.tensor([[[0.0, 0, 0], [1.5, 0, 0]]] * 3)
    x = torch.tensor([[MIN_DISTANCE / 2, 0, 0], [0, REACH + 1.0, 0], [0, 1.1, 0]])
    assert insane(x, earlier).tolist() == [True, True, False]
    assert not insane(x, earlier[:, :0]).any()  # the first atom has nothing to clash with


def test_oversampling_keeps_the_best_draw_by_the_models_own_score(tiny_model):
    s = SampleSettings(n=2, seed=1, steps=2, oversample=4, rank="type_z_probe")
    res = sample(tiny_model, s)
    draws = sample_draws(tiny_model, s)  # the same 8 draws, before selection
    assert res.drawn == 8 and len(res.molecules) == 2
    assert all(np.isfinite(t.probe[:-1]).all() for t in draws)  # the probe was measured on every atom
    for j, kept in enumerate(res.trajectories):
        group = draws[4 * j: 4 * j + 4]
        best = max(group, key=ranking.type_z_probe)
        assert np.array_equal(kept.types, best.types) and np.allclose(kept.coords, best.coords, equal_nan=True)


def test_type_scores_follow_their_definitions():
    p = np.array([[0.5, 0.25, 0.25], [0.9, 0.05, 0.05]])
    tr = Trajectory(p, np.array([0, 1]), np.zeros((2, 3)), model_probs=p, probe=np.array([1.0, 3.0]))
    assert ranking.type_sum(tr) == pytest.approx(np.log(0.5) + np.log(0.05))
    assert ranking.type_mean(tr) == pytest.approx((np.log(0.5) + np.log(0.05)) / 2)
    assert ranking.probe(tr) == pytest.approx(-2.0)
    h = -(p * np.log(p)).sum(1)
    var = (p * np.log(p) ** 2).sum(1) - h**2
    assert ranking.type_z(tr) == pytest.approx((np.log(0.5) + h[0] + np.log(0.05) + h[1]) / np.sqrt(var.sum() + 1e-6))


def test_bad_knob_values_get_one_line_errors():
    for bad, msg in ((dict(top_p=1.5), "top-p"), (dict(coord_draws=0), "coordinate draws"),
                     (dict(oversample=0), "oversample"), (dict(rank="validity"), "ranking score"),
                     (dict(sigma_max=-1.0), "sigma max"), (dict(redraws=-1), "redraws"), (dict(churn=-1.0), "churn")):
        with pytest.raises(ValueError, match=msg) as err:
            SampleSettings(**bad).validate(28)
        assert "\n" not in str(err.value)
