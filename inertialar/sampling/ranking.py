"""Likelihood scores of sampled molecules, for best-of-k selection (``SampleSettings.oversample``).

Every score reads only what the model itself said while sampling a molecule (``Trajectory``):
the guided type distribution at temperature 1 at each step (``model_probs``) and the
denoiser's probe error on each drawn atom (``probe``). None looks at bonds, valences or
RDKit: selection never uses the rules that the metrics score with (``tests/test_modes.py``
pins that this module and the sampler do not import ``inertialar.chem.metrics``). Steps of a given
prefix are not scored. Higher is better for every score.

* ``type_mean`` / ``type_sum``: mean / sum of log p(chosen type). The mean prefers long,
  saturated molecules, the sum short ones (measured: ``benchmarks/results/sampler_frontier.md``).
* ``type_z``: the type log-likelihood standardised under the model's own distribution,
  Σ_t (log p_t(c_t) + H_t) / √(Σ_t Var_t), where H_t and Var_t are the mean and variance of
  −log p_t under p_t. Each term has mean 0 whatever the molecule's length, so the score asks
  "were the types more likely than this model's typical draw?" without a length bias.
* ``probe``: minus the mean probe error over the drawn atoms, E‖D(x + σε; σ) − x‖²/σ² at
  σ = ``PROBE_SIGMA``: how much the denoiser would move the point it produced.
* ``type_z_probe``: ``type_z`` minus the probe error standardised the same way (its mean over
  atoms, relative to 1, times √atoms): both evidence terms with equal weight.
* ``type_mean_probe``: ``type_mean`` + ``PROBE_WEIGHT`` · ``probe``: the mean's pull towards
  long, saturated molecules is held back by the size-neutral coordinate term (weight chosen on
  seed-7 pools among 0, 0.5, 1, 2, 4: 4 kept the atom count closest to the data at about the same
  stability; the frontier scores seed 123).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inertialar.sampling.trajectory import Trajectory

_EPS = 1e-12
PROBE_WEIGHT = 4.0
SHORTLIST_RANK = "type_mean_probe"  # the likelihood score that narrows draws before the critic


def _steps(tr: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """The scored steps' own probabilities (S', V) and chosen types (S',)."""
    return tr.model_probs[tr.n_prefix:], tr.types[tr.n_prefix:]


def _chosen_logp(tr: Trajectory) -> np.ndarray:
    p, c = _steps(tr)
    return np.log(np.take_along_axis(p, c[:, None], 1)[:, 0] + _EPS)


def type_mean(tr: Trajectory) -> float:
    lp = _chosen_logp(tr)
    return float(lp.mean()) if lp.size else 0.0


def type_sum(tr: Trajectory) -> float:
    return float(_chosen_logp(tr).sum())


def type_z(tr: Trajectory) -> float:
    p, _ = _steps(tr)
    if not len(p):
        return 0.0
    logp = np.log(p + _EPS)
    entropy = -(p * logp).sum(1)  # (S',) expected −log p
    var = (p * logp**2).sum(1) - entropy**2  # (S',) variance of −log p under p
    return float((_chosen_logp(tr) + entropy).sum() / np.sqrt(var.sum() + 1e-6))


def _probe_z(tr: Trajectory) -> float:
    e = tr.probe[tr.n_prefix:]
    e = e[np.isfinite(e)]
    return float((e.mean() - 1.0) * np.sqrt(len(e))) if e.size else 0.0


def probe(tr: Trajectory) -> float:
    e = tr.probe[tr.n_prefix:]
    e = e[np.isfinite(e)]
    return -float(e.mean()) if e.size else 0.0


def type_z_probe(tr: Trajectory) -> float:
    return type_z(tr) - _probe_z(tr)


def type_mean_probe(tr: Trajectory) -> float:
    return type_mean(tr) + PROBE_WEIGHT * probe(tr)


SCORES: dict[str, Callable[[Trajectory], float]] = {
    "type_mean_probe": type_mean_probe, "type_z": type_z, "type_mean": type_mean, "type_sum": type_sum,
    "probe": probe, "type_z_probe": type_z_probe,
}


def needs_probe(rank: str) -> bool:
    """Whether the score reads the denoiser probe (the sampler then measures it)."""
    return "probe" in rank


def best_of(trajectories: list[Trajectory], k: int, rank: str) -> list[Trajectory]:
    """Draws in groups of k (molecule j = draws j·k … j·k + k − 1) → the best of each group."""
    if len(trajectories) % k:
        raise ValueError(f"{len(trajectories)} draws do not split into groups of {k}")
    score = SCORES[rank]
    return [max(trajectories[j:j + k], key=score) for j in range(0, len(trajectories), k)]


def shortlist(trajectories: list[Trajectory], k: int, m: int, rank: str) -> list[Trajectory]:
    """Draws in groups of k → each group's m best by ``rank`` (best first), as groups of m."""
    if len(trajectories) % k:
        raise ValueError(f"{len(trajectories)} draws do not split into groups of {k}")
    score = SCORES[rank]
    out: list[Trajectory] = []
    for j in range(0, len(trajectories), k):
        group = trajectories[j:j + k]
        order = sorted(range(k), key=lambda i: -score(group[i]))
        out += [group[i] for i in order[:m]]
    return out
