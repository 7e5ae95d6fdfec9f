"""Which model the app uses: the one cached loader, the sidebar checkpoint picker, the fallback.

The picker offers the two shipped checkpoints, QM9 (the default: ``$INERTIALAR_CHECKPOINT`` if
set, as tests point it at a tiny model, else ``inertialar.nn.checkpoint.DEFAULT_CHECKPOINT``) and
drug-like MOSES (``$INERTIALAR_MOSES_CHECKPOINT`` or ``MOSES_CHECKPOINT``), or a typed path.
Every page reads the dataset's elements, groups and sizes from the model's config. Every checkpoint is read by
``inertialar.nn.checkpoint.load_checkpoint`` inside one ``st.cache_resource`` keyed by (path,
device). If the default file is missing, the app falls back to a small randomly initialised
model and says so on every page that samples; a bad user-typed path is an ``st.error`` and the
default stays in use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from inertialar.nn.checkpoint import (
    DEFAULT_CHECKPOINT,
    DEFAULT_POLISHERS,
    MOSES_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    load_polisher,
)
from inertialar.nn.diffusion import DiffusionConfig
from inertialar.nn.model import InertialAR, ModelConfig
from inertialar.nn.polisher import Polisher
from inertialar.nn.transformer import BackboneConfig

ENV_CHECKPOINT = "INERTIALAR_CHECKPOINT"
ENV_MOSES_CHECKPOINT = "INERTIALAR_MOSES_CHECKPOINT"
ENV_POLISHER = "INERTIALAR_POLISHER"
DEFAULT_CHOICE, MOSES_CHOICE, PATH_CHOICE = "Shipped default (QM9)", "Drug-like (MOSES)", "Path …"
RANDOM_LABEL = "untrained random model — results are not meaningful"
STATE_KEY = "app.model"  # the LoadedModel of this run, set by the sidebar
METRIC_KEYS = ("val_loss", "atom_stability", "mol_stability", "validity", "uniqueness", "novelty")


@dataclass(frozen=True)
class LoadedModel:
    """The model in use. ``trained`` is False for the random fallback; ``key`` identifies the
    weights (path@device) so that cached results from another model are never shown."""

    model: InertialAR
    meta: dict
    label: str
    key: str
    device: str
    trained: bool
    polisher: Polisher | None = None  # the learned polisher for the model's dataset, where one is shipped


def default_path() -> Path:
    override = os.environ.get(ENV_CHECKPOINT, "").strip()
    return Path(override) if override else DEFAULT_CHECKPOINT


def moses_path() -> Path:
    override = os.environ.get(ENV_MOSES_CHECKPOINT, "").strip()
    return Path(override) if override else MOSES_CHECKPOINT


@st.cache_resource(show_spinner="Loading checkpoint …", max_entries=4)
def _load(path: str, device: str, stamp: tuple[int, int]) -> tuple[InertialAR, dict]:
    """The one cached loader, keyed by (path, device) and the file's (mtime, size) stamp, so a
    checkpoint rewritten on disk (e.g. by a training run) is read again."""
    return load_checkpoint(path, device)


@st.cache_resource(show_spinner=False)
def _random_model(device: str) -> InertialAR:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=BackboneConfig(width=48, depth=2, heads=2, rope_heads=1, rope_pairs_per_axis=2,
                                              nystrom_grid=3),
                      diffusion=DiffusionConfig(width=48, depth=1))
    return InertialAR(cfg).to(device).eval()


def load(path: str | Path, device: str) -> LoadedModel:
    """A checkpoint as a LoadedModel; raises CheckpointError with a one-line message."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size)
    model, meta = _load(str(path.resolve()), device, stamp)
    return LoadedModel(model, meta, path.name, f"{path.resolve()}@{device}@{stamp[0]}", device, True,
                       polisher_for(model.cfg))


def polisher_path(dataset: str) -> Path | None:
    """``$INERTIALAR_POLISHER`` (``none`` turns polishing off) or the shipped polisher of ``dataset``."""
    override = os.environ.get(ENV_POLISHER, "").strip()
    if override.lower() == "none":
        return None
    return Path(override) if override else DEFAULT_POLISHERS.get(dataset)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_polisher(path: str, stamp: tuple[int, int]) -> Polisher:
    return load_polisher(path)[0]


def polisher_for(cfg: ModelConfig) -> Polisher | None:
    """The polisher for a model, if one exists with the model's vocabulary (else None: no polish)."""
    path = polisher_path(cfg.dataset)
    if path is None or not path.is_file():
        return None
    info = path.stat()
    polisher = _load_polisher(str(path.resolve()), (info.st_mtime_ns, info.st_size))
    return polisher if tuple(polisher.cfg.elements) == tuple(cfg.elements) else None


def random_fallback(device: str) -> LoadedModel:
    return LoadedModel(_random_model(device), {}, RANDOM_LABEL, f"random@{device}", device, False)


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sidebar() -> LoadedModel:
    """Render the checkpoint picker in the sidebar; store and return the model in use."""
    sb = st.sidebar
    sb.header("Model")
    default = default_path()
    choice = sb.radio("Checkpoint", [DEFAULT_CHOICE, MOSES_CHOICE, PATH_CHOICE], key="ckpt.choice",
                      help=f"The shipped default is {default} (QM9); the drug-like model is {moses_path()} "
                           "(MOSES SMILES, MMFF94 conformers). Choose 'Path …' to load another InertialAR "
                           "checkpoint (.pt) from this machine.")
    device = sb.selectbox("Device", _devices(), key="ckpt.device",
                          help="Where sampling runs. CUDA appears when a GPU is visible.")
    loaded: LoadedModel | None = None
    if choice == MOSES_CHOICE:
        try:
            loaded = load(moses_path(), device)
        except CheckpointError as err:
            sb.error(f"{err}. Using the shipped default instead.")
    if choice == PATH_CHOICE:
        typed = sb.text_input("Checkpoint path", key="ckpt.path", placeholder="/path/to/checkpoint.pt").strip()
        if typed:
            try:
                loaded = load(typed, device)
            except CheckpointError as err:
                sb.error(f"{err}. Using the shipped default instead.")
    if loaded is None:
        try:
            loaded = load(default, device)
        except CheckpointError as err:
            if default.exists():
                sb.error(str(err))
            else:
                sb.warning(f"No trained checkpoint at {default} (training may still be running).")
            loaded = random_fallback(device)
    _show_meta(sb, loaded)
    st.session_state[STATE_KEY] = loaded
    return loaded


def current() -> LoadedModel:
    """The model chosen in the sidebar this run (the random fallback if the sidebar has not run)."""
    loaded = st.session_state.get(STATE_KEY)
    return loaded if isinstance(loaded, LoadedModel) else random_fallback("cpu")


def untrained_warning(loaded: LoadedModel) -> None:
    """A page-level banner whenever results come from the random fallback."""
    if not loaded.trained:
        st.warning(f"⚠️ {RANDOM_LABEL.capitalize()}. Train one (python -m inertialar train) or pick a "
                   "checkpoint in the sidebar.", icon=None)


def _show_meta(sb, loaded: LoadedModel) -> None:
    if not loaded.trained:
        sb.caption(f"In use: **{RANDOM_LABEL}**")
        return
    meta = loaded.meta
    sb.caption(f"In use: **{loaded.label}** on {loaded.device} · data: {loaded.model.cfg.spec.label} · "
               f"elements {' '.join(loaded.model.cfg.elements)} · up to {loaded.model.cfg.max_atoms} atoms")
    rows = []
    for key, label, fmt in (("steps", "steps", "{:,}"), ("epochs", "epochs", "{:.2f}"),
                            ("wall_hours", "wall hours", "{:.2f}"), ("parameters", "parameters", "{:,}"),
                            ("device", "trained on", "{}")):
        if key in meta and meta[key] is not None:
            try:
                rows.append(f"- {label}: {fmt.format(meta[key])}")
            except (TypeError, ValueError):
                rows.append(f"- {label}: {meta[key]}")
    metrics = dict(meta.get("metrics")) if isinstance(meta.get("metrics"), dict) else {}
    metrics.update({k: meta[k] for k in METRIC_KEYS if k in meta})
    for key, value in metrics.items():
        rows.append(f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}")
    sb.markdown("\n".join(rows) if rows else "No training metadata in this checkpoint.")
    shown = {"steps", "epochs", "wall_hours", "parameters", "device", "metrics", *METRIC_KEYS}
    extra = {k: v for k, v in meta.items() if k not in shown}
    if extra:
        with sb.expander("All metadata"):
            st.json(extra, expanded=False)
