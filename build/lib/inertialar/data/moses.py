"""Drug-like molecules: MOSES SMILES (the ``molsets`` wheel) with RDKit ETKDGv3 + MMFF94 conformers.

Named "drug-like (MOSES, MMFF94 conformers)" everywhere: these are force-field geometries of ZINC
molecules (8–27 heavy atoms; C N O S F Cl Br + H), not GEOM's CREST/GFN2-xTB conformers.

Build (``prepare``): a deterministic subset, seeded (``SEED``): valid and train are drawn from
MOSES ``train.csv.gz`` without overlap, test from ``test.csv.gz`` (default 50,000 / 5,000 /
5,000; ``n`` sets train and valid/test = n / 10). Or ``smiles_file``: one SMILES per line, split
90 / 5 / 5 with the same seed. Each molecule: parse → vocabulary check → AddHs → size cap →
ETKDGv3 (random seed from its row, 5 s timeout, a second try from random coordinates) →
MMFF94 (2,000 iterations; charged groups such as nitro keep their SMILES charges for MMFF, the
tokens carry none, as in GEOM-Drugs' EDM evaluation) → canonical tokens
(``data.process_molecule``). Work runs over a process pool in shards of ``SHARD`` molecules, each
written atomically, so an interrupted build resumes at the first missing shard. Every molecule
that fails is counted by reason in ``moses_report.json`` beside the caches (with the build's
settings); none is dropped silently. The embedding timeout is wall-clock time, so a molecule at
the edge of it may embed on a fast machine and fail on a loaded one: the report records it. The
package itself is never imported (``import moses`` pulls in fcd_torch): its CSVs are read from the
installed wheel.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from inertialar.chem.molecule import EmbedError, from_smiles
from inertialar.data.specs import MOSES
from inertialar.data.tokenset import (
    CACHE_VERSION,
    assemble,
    cache_dir,
    cache_path,
    load_split,
    load_tokenset,
    process_molecule,
    save_tokenset,
    tokenset_arrays,
)
from inertialar.files import atomic_path

SEED = 20261202
DEFAULT_TRAIN = 50_000
SHARD = 500
EMBED_TIMEOUT_S = 5
MMFF_ITERATIONS = 2000
REASONS = ("unparsable", "outside vocabulary", "too large", "embedding failed")
REPORT_NAME = "moses_report.json"


def moses_csv(name: str) -> Path:
    """A CSV shipped in the installed molsets wheel (``train.csv.gz`` or ``test.csv.gz``)."""
    spec = importlib.util.find_spec("moses")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package molsets is not installed (pip install --no-deps molsets==0.3.1)")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset" / "data" / name


def read_smiles_csv(path: Path) -> list[str]:
    """SMILES column of a MOSES CSV (gzip, header ``SMILES``)."""
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    if not lines or lines[0].split(",")[0] != "SMILES":
        raise ValueError(f"{path} is not a MOSES SMILES file")
    return [line.split(",")[0] for line in lines[1:] if line]


def read_smiles_file(path: str | Path) -> list[str]:
    """One SMILES per line (blank lines and ``#`` comments skipped; a first token only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SMILES file at {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file") from None
    out = [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not out:
        raise ValueError(f"{path} holds no SMILES")
    return out


def select(n_train: int = DEFAULT_TRAIN, smiles_file: str | Path | None = None,
           seed: int = SEED) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The deterministic subset: split → (source row ids (M,), SMILES)."""
    rng = np.random.default_rng(seed)
    n_small = max(1, n_train // 10)
    if smiles_file is not None:
        smiles = read_smiles_file(smiles_file)
        order = rng.permutation(len(smiles))
        n_valid = n_test = max(1, len(smiles) // 20)
        parts = {"valid": order[:n_valid], "test": order[n_valid:n_valid + n_test], "train": order[n_valid + n_test:]}
        return {s: (np.sort(rows), [smiles[r] for r in np.sort(rows)]) for s, rows in parts.items()}
    train_pool = read_smiles_csv(moses_csv("train.csv.gz"))
    test_pool = read_smiles_csv(moses_csv("test.csv.gz"))
    if n_train + n_small > len(train_pool) or n_small > len(test_pool):
        raise ValueError(f"--n {n_train} asks for more molecules than MOSES holds")
    order = rng.permutation(len(train_pool))
    rows = {"valid": np.sort(order[:n_small]), "train": np.sort(order[n_small:n_small + n_train]),
            "test": np.sort(rng.permutation(len(test_pool))[:n_small])}
    pools = {"valid": train_pool, "train": train_pool, "test": test_pool}
    return {s: (r, [pools[s][i] for i in r]) for s, r in rows.items()}


def embed(smiles: str, seed: int):
    """(Molecule, None) with an MMFF94 conformer, or (None, reason) with reason in ``REASONS``."""

    try:
        mol = from_smiles(smiles, seed, MOSES.elements, MOSES.max_atoms, MOSES.max_heavy, MMFF_ITERATIONS,
                          EMBED_TIMEOUT_S)
    except EmbedError as err:
        return None, err.reason
    return mol, None


def _work(job: tuple[int, str]):
    """Worker: (row id, SMILES) → ("ok", tokens…) or ("failed", reason)."""

    row, smiles = job
    try:
        mol, reason = embed(smiles, SEED + row)
        if mol is None:
            return "failed", reason
        return "ok", process_molecule(mol, smiles, MOSES)
    except Exception as err:  # noqa: BLE001 — one bad molecule is counted, never ends the build
        return "failed", f"embedding failed ({type(err).__name__})"


def _build_settings() -> dict:
    """Everything besides the SMILES that decides a build's output (part of its key and report)."""

    return {"seed": SEED, "shard": SHARD, "embed_timeout_s": EMBED_TIMEOUT_S, "embed_attempts": 2,
            "mmff_iterations": MMFF_ITERATIONS, "cache_version": CACHE_VERSION, "elements": list(MOSES.elements),
            "groups": list(MOSES.groups), "max_atoms": MOSES.max_atoms, "max_heavy": MOSES.max_heavy}


def _build_key(selection: dict, source: str) -> str:
    h = hashlib.sha256(source.encode() + json.dumps(_build_settings(), sort_keys=True).encode())
    for split in sorted(selection):
        h.update(split.encode() + "\n".join(selection[split][1]).encode())
    return h.hexdigest()[:12]


def _run_shard(pool, jobs: list[tuple[int, str]]) -> tuple[list, list[int], list[str]]:
    results = pool.imap(_work, jobs, chunksize=8) if pool is not None else map(_work, jobs)
    ok, kept, failed = [], [], []
    for (row, _), (status, value) in zip(jobs, results, strict=True):
        if status == "ok":
            ok.append(value)
            kept.append(row)
        else:
            failed.append(value)
    return ok, kept, failed


def _save_shard(path: Path, results: list, kept: list[int], failed: list[str]) -> None:

    arrays = tokenset_arrays(assemble(results, np.array(kept, dtype=np.int64), MOSES))
    with atomic_path(path) as tmp:
        np.savez(tmp, failed=np.array(failed, dtype=str), **arrays)


def prepare(workers: int = 2, progress: bool = True, force: bool = False, n: int | None = None,
            smiles_file: str | Path | None = None) -> dict[str, Path]:
    """Build (or resume) the MOSES token caches; returns split → cache path. See the module doc."""
    from tqdm import tqdm


    n_train = DEFAULT_TRAIN if n is None else int(n)
    if n_train < 1:
        raise ValueError(f"--n must be at least 1, got {n_train}")
    selection = select(n_train, smiles_file)
    empty = [s for s in MOSES.splits if len(selection[s][0]) == 0]
    if empty:
        raise ValueError(f"the {empty[0]} split would be empty: give at least 3 SMILES")
    source = f"file {Path(smiles_file).name}" if smiles_file is not None else "molsets 0.3.1 train/test.csv.gz"
    paths = {s: cache_path(MOSES, s) for s in MOSES.splits}
    report_path = cache_dir() / REPORT_NAME
    key = _build_key(selection, source)
    if not force and all(p.exists() for p in paths.values()) and report_path.exists() \
            and json.loads(report_path.read_text()).get("build") == key:
        return paths
    work = cache_dir() / "moses_build" / key
    work.mkdir(parents=True, exist_ok=True)
    shards = [(split, k) for split in MOSES.splits for k in range(0, len(selection[split][0]), SHARD)]
    done = {(s, k) for s, k in shards if (work / f"{s}_{k:07d}.npz").exists() and not force}
    total = sum(len(selection[s][0]) for s in MOSES.splits)
    initial = sum(min(SHARD, len(selection[s][0]) - k) for s, k in done)
    start = time.time()
    pool = Pool(workers) if workers > 1 else None
    try:  # on Ctrl-C or an error the pool is terminated (close + join would wait for its queue)
        with tqdm(total=total, initial=initial, unit="mol", desc="MOSES conformers", disable=not progress) as bar:
            for split, k in shards:
                if (split, k) in done:
                    continue
                rows, smiles = selection[split]
                jobs = list(zip(rows[k:k + SHARD].tolist(), smiles[k:k + SHARD], strict=True))
                _save_shard(work / f"{split}_{k:07d}.npz", *_run_shard(pool, jobs))
                bar.update(len(jobs))
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    if pool is not None:
        pool.close()
        pool.join()
    report = {"dataset": MOSES.label, "source": source, "build": key, **_build_settings(),
              "wall_s_this_run": round(time.time() - start, 1), "workers": workers, "splits": {}}

    built = {}
    for split in MOSES.splits:
        parts = [work / f"{split}_{k:07d}.npz" for s, k in shards if s == split]
        sets = [load_tokenset(p) for p in parts]
        failed = Counter(r for p in parts for r in np.load(p)["failed"].tolist())
        results = [(s.types[s.offsets[i]:s.offsets[i + 1]], s.coords[s.offsets[i]:s.offsets[i + 1]], s.smiles[i],
                    s.groups[i]) for s in sets for i in range(len(s))]
        ts = assemble(results, np.concatenate([s.index for s in sets]) if sets else np.zeros(0, np.int64), MOSES)
        built[split] = ts
        report["splits"][split] = {"requested": len(selection[split][0]), "built": len(ts),
                                   "failed": sum(failed.values()), "failures": dict(sorted(failed.items())),
                                   "max_atoms": int(ts.lengths.max()) if len(ts) else 0,
                                   "mean_atoms": round(float(ts.lengths.mean()), 2) if len(ts) else 0.0}
        if not len(ts):  # nothing written: the caches of the last good build stay as they were
            why = ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
            raise ValueError(f"no molecule of the {split} split could be built ({why}); no cache was written: "
                             "give more SMILES")
    report_path.unlink(missing_ok=True)  # caches being rewritten are not described by an old report
    for split, ts in built.items():
        save_tokenset(ts, paths[split])
    with atomic_path(report_path) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    return paths


def build_report() -> dict:
    """The report of the last build (counts per split, failures by reason); {} if none."""

    path = cache_dir() / REPORT_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def split_hash(root: str | Path | None = None) -> str:
    """Fingerprint of the built train and valid subsets (their SMILES), from the caches in ``root``
    (e.g. a packed copy) or the cache."""

    h = hashlib.sha256()
    for split in ("train", "valid"):
        h.update(split.encode() + "\n".join(load_split(split, MOSES, root).smiles.astype(str)).encode())
    return h.hexdigest()[:16]
