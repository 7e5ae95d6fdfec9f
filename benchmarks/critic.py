"""The critic measured: how well it tells data from samples, and which selection rule `best` uses.

1. ROC AUC of the critic score (``python -m inertialar score``) between QM9 test molecules and
   ``raw`` samples it never saw (seed 31337), and between stable and unstable polished ``fast``
   samples (seed 31338; stability by EDM's rule, used only to score the critic here).
2. Selection on a validation pool (seed 7, as the modes were chosen; the frontier scores seed 123):
   k draws per kept molecule at a few pool temperatures, each draw polished, then the best of each
   k by the model's own likelihood score (``type_mean_probe``), by the critic, or by both, and
   acceptance sampling at a calibrated rate (keep draws whose critic score beats the rate's
   quantile of the pool, in draw order), and the critic on each group's m likeliest draws
   (``shortlist`` = m: only those m are polished and judged). Every draw counts in the cost.

    python benchmarks/critic.py [--n 300] [--k 10] [--auc-n 1000]

Writes ``critic.csv`` and ``critic.md`` in the results folder.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from inertialar.chem.metrics import evaluate, stability, wasserstein_1d
from inertialar.data.tokenset import load_split
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.sampling.critic import critic_scores
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.polish import polish
from inertialar.sampling.ranking import SCORES
from inertialar.sampling.sampler import draw_molecules, sample, sample_draws


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney U / n₊n₋)."""
    scores = np.concatenate([positive, negative])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="stable")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tie = scores == value
        ranks[tie] = ranks[tie].mean()
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def metrics_row(label: str, kept, drawn: int, test_lengths) -> dict:
    m = evaluate(kept)
    counts = [len(x) for x in kept]
    return {"row": label, "kept": len(kept), "drawn": drawn, "mol_stability": m["mol_stability"],
            "validity": m["validity"], "uniqueness": m["uniqueness"], "valid_x_unique": m["valid_x_unique"],
            "mean_atoms": float(np.mean(counts)), "atoms_w1": wasserstein_1d(counts, test_lengths)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polisher", default=str(DEFAULT_POLISHERS["qm9"]))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--auc-n", type=int, default=1000)
    args = ap.parse_args()
    model, _ = load_checkpoint()
    polisher, meta = load_polisher(args.polisher)
    test = load_split("test", "qm9")
    rows: list[dict] = []

    idx = np.random.default_rng(11).choice(len(test), size=args.auc_n, replace=False)
    data = critic_scores(polisher, [test.molecule(int(i)) for i in idx])
    raw = sample(model, mode_settings("raw", n=args.auc_n, seed=31337)).molecules
    fast = sample(model, mode_settings("fast", n=args.auc_n, seed=31338), polisher=polisher).molecules
    fast_scores = critic_scores(polisher, fast)
    stable = np.array([stability(m)[2] for m in fast])
    aucs = {"test vs raw samples": roc_auc(data, critic_scores(polisher, raw)),
            "test vs polished fast samples": roc_auc(data, fast_scores),
            "stable vs unstable polished fast samples": roc_auc(fast_scores[stable], fast_scores[~stable])}
    print(aucs, flush=True)

    test_lengths = test.lengths
    for label, base in (("pool T_coord 0.2 (fast)", {}), ("pool T_coord 0.3, T 0.7 (best's)", dict(
            coord_temperature=0.3, temperature=0.7, top_p=1.0, steps=10)), ("pool T_coord 0.5, T 0.7", dict(
            coord_temperature=0.5, temperature=0.7, top_p=1.0, steps=10))):
        s = mode_settings("fast", n=args.n, seed=7, oversample=args.k, rank="type_mean_probe", **base)
        draws = sample_draws(model, s)
        raw_mols = draw_molecules(s, draws)
        polished = polish(polisher, raw_mols).molecules
        critic = critic_scores(polisher, polished)
        likelihood = np.array([SCORES["type_mean_probe"](tr) for tr in draws])
        z = lambda v: (v - v.mean()) / (v.std() + 1e-9)  # noqa: E731
        rules = {"first draw": np.zeros(len(draws)), "type_mean_probe": likelihood, "critic": critic,
                 "critic + type_mean_probe (z)": z(critic) + z(likelihood)}
        k = args.k
        for name, sc in rules.items():
            keep = [j + int(np.argmax(sc[j:j + k])) if name != "first draw" else j for j in range(0, len(draws), k)]
            rows.append({"pool": label, **metrics_row(f"best of {k} by {name}", [polished[i] for i in keep],
                                                      len(draws), test_lengths)})
            print(rows[-1], flush=True)
        for m in (2, 3, 5):  # the critic on each group's m likeliest draws (settings.shortlist = m)
            keep = []
            for j in range(0, len(draws), k):
                top = j + np.argsort(-likelihood[j:j + k], kind="stable")[:m]
                keep.append(int(top[np.argmax(critic[top])]))
            rows.append({"pool": label, **metrics_row(f"critic on the {m} likeliest of {k}",
                                                      [polished[i] for i in keep], len(draws), test_lengths)})
            print(rows[-1], flush=True)
        threshold = np.quantile(critic, 1 - 1 / k)  # acceptance at rate 1/k: the pool's top 1/k by the critic
        accepted = [polished[i] for i in np.flatnonzero(critic >= threshold)][: args.n]
        rows.append({"pool": label, **metrics_row(f"accept critic ≥ {1 / k:.0%} quantile", accepted, len(draws),
                                                  test_lengths)})
        print(rows[-1], flush=True)

    out = results_dir()
    with (out / "critic.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["# The critic: data vs samples, and the selection rule of `best`", "",
             f"Polisher `{Path(args.polisher).name}` ({meta.get('epochs', 0):.1f} epochs). Command: `python benchmarks/critic.py "
             f"--n {args.n} --k {args.k} --auc-n {args.auc_n}` (2-core CPU).", "", "| ROC AUC of the critic score | |",
             "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in aucs.items()] + [
             "", f"Selection on seed-7 pools ({args.n} kept, {args.k} draws each, every draw polished):", "",
             "| pool | rule | kept | mol. stab. | valid | unique | V×U | mean atoms | W1 atoms |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['pool']} | {r['row']} | {r['kept']} | {r['mol_stability']:.1%} | {r['validity']:.1%} | "
              f"{r['uniqueness']:.1%} | {r['valid_x_unique']:.1%} | {r['mean_atoms']:.1f} | {r['atoms_w1']:.2f} |" for r in rows]
    (out / "critic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
