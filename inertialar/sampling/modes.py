"""Quality modes: named presets of ``SampleSettings`` (their one home).

* ``raw``: the model's own distribution: every temperature 1, full nucleus, deterministic Heun
  from the model's σ_max, no redraws, no selection. What a researcher inspects.
* ``fast`` (the default): the best sampler without oversampling: type temperature 0.5 with a
  0.9 nucleus, start-noise temperature 0.2, 12 Heun steps (12 ≈ 18 in quality, 1.5× faster),
  then the learned polisher (σ₀ 0.2 Å, 3 Heun steps; ``sampling.polish``) where one is given.
  These are ``SampleSettings``' own defaults, so the preset is empty: one home for them.
* ``best``: everything that helped: start-noise temperature 0.3 (more diverse than 0.2: on
  1,000 molecules 0.25 kept only 71% unique), 10 Heun steps, 10 draws per molecule; each group's
  3 likeliest by ``type_mean_probe`` (``inertialar.sampling.ranking``) are polished and the
  critic (``sampling.critic``) keeps one (``benchmarks/results/critic.md``: on seed-7 pools the
  critic over the 3 likeliest kept the stability of the critic over all 10 at a third of the
  polish cost); all 10 draws are sampled and count in the cost.

The presets were chosen on pools of 2,000–3,000 draws with seed 7; what did not help (EDM
churn, σ_max 80, more steps, per-atom coordinate candidates, geometric redraws) stays in the
frontier table, which scores every mode and knob on seed 123
(``benchmarks/sampler_frontier.py`` → ``benchmarks/results/sampler_frontier.md``).
Individual settings override a mode: ``mode_settings("best", n=10, steps=30)``. Selection and
redraws never use the metrics' bond tables, valences or RDKit (see ``inertialar.sampling.ranking`` and
``inertialar.sampling.sampler``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from inertialar.sampling.settings import SampleSettings


@dataclass(frozen=True)
class Mode:
    """A named preset: ``settings`` are SampleSettings fields that differ from its defaults (the
    ``fast`` mode); ``summary`` is one line for people."""

    name: str
    summary: str
    settings: dict


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("raw", "the model's own distribution: temperatures 1, no redraws, no selection",
         dict(temperature=1.0, top_p=1.0, coord_temperature=1.0, churn=0.0, churn_temperature=1.0,
              sigma_max=None, steps=18, coord_draws=1, redraws=0, oversample=1, polish=False)),
    Mode("fast", "the best sampler without oversampling (the default)", {}),  # SampleSettings' defaults
    Mode("best", "best of 10 draws: the 3 likeliest by the model's own likelihoods, polished, judged by the critic",
         dict(temperature=0.7, top_p=1.0, coord_temperature=0.3, churn=0.0, churn_temperature=1.0,
              sigma_max=None, steps=10, coord_draws=1, redraws=0, oversample=10, rank="critic", shortlist=3)),
)}
DEFAULT_MODE = "fast"


def mode_settings(mode: str = DEFAULT_MODE, **overrides) -> SampleSettings:
    """SampleSettings of a mode, with any field overridden (None values are ignored, so CLI
    flags that were not given keep the mode's value). ValueError for an unknown mode or field."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    names = {f.name for f in fields(SampleSettings)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown sample setting {sorted(unknown)[0]!r}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return SampleSettings(**{**MODES[mode].settings, "mode": mode, **given})


def describe_settings(s: SampleSettings) -> str:
    """One line naming every sampler knob of ``s`` (for tables, captions and logs)."""
    parts = [f"type T {s.temperature:g}", f"top-p {s.top_p:g}", f"start-noise T {s.coord_temperature:g}"]
    if s.churn:
        parts.append(f"churn {s.churn:g} τ {s.churn_temperature:g}")
    parts += [f"σ_max {'model' if s.sigma_max is None else format(s.sigma_max, 'g')}", f"{s.steps} Heun steps"]
    if s.coord_draws > 1:
        parts.append(f"{s.coord_draws} coordinate candidates per atom")
    if s.redraws:
        parts.append(f"{s.redraws} redraws")
    if s.oversample > 1:
        narrowed = f" among the {s.shortlist} likeliest" if s.rank == "critic" and 0 < s.shortlist < s.oversample else ""
        parts.append(f"best of {s.oversample} by {s.rank}{narrowed}")
    parts.append(f"polish σ₀ {s.polish_sigma:g} Å × {s.polish_steps} steps" if s.polish else "no polish")
    return ", ".join(parts)
