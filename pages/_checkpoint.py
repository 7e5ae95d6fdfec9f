"""Which model the app uses: the one cached loader, the sidebar checkpoint picker, the fallback.

The picker offers only allowed places: the two shipped checkpoints, QM9 (the default:
``$INERTIALAR_CHECKPOINT`` if set, as tests point it at a tiny model, else
``inertialar.nn.checkpoint.DEFAULT_CHECKPOINT``) and drug-like MOSES (``$INERTIALAR_MOSES_CHECKPOINT``
or ``MOSES_CHECKPOINT``); every ``*.pt`` in the folder ``$INERTIALAR_MODELS_DIR``; and an uploaded
checkpoint (≤ ``UPLOAD_MB``, read with ``weights_only`` into memory, never written to disk).
Typed paths are off on a shared server: "Path …" then loads only files inside those folders, and
refuses anything else with one message that says nothing about the file (whether it exists, what
it holds). A desktop user turns typed paths on with ``INERTIALAR_ALLOW_PATHS=1``.
Every page reads the dataset's elements, groups and sizes from the model's config. Every checkpoint is read by
``inertialar.nn.checkpoint.load_checkpoint`` inside one ``st.cache_resource`` keyed by (path,
device). If the default file is missing, the app falls back to a small randomly initialised
model and says so on every page that samples; a bad user-typed path is an ``st.error`` and the
default stays in use.
"""

from __future__ import annotations

import hashlib
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
UPLOAD_CHOICE = "Upload a checkpoint …"
ENV_MODELS_DIR = "INERTIALAR_MODELS_DIR"  # a folder whose *.pt files the picker lists
ENV_ALLOW_PATHS = "INERTIALAR_ALLOW_PATHS"  # "1": typed paths may name any file (a desktop, not a shared server)
UPLOAD_MB = 200  # checkpoint uploads: at most this size, held in memory only
REFUSED = ("Only the shipped checkpoints, the models folder and uploads can be loaded on this server "
           "(typed paths are off; see the README).")
RANDOM_LABEL = "untrained random model — results are not meaningful"
STATE_KEY = "app.model"  # the LoadedModel of this run, set by the sidebar


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


def models_dir() -> Path | None:
    folder = os.environ.get(ENV_MODELS_DIR, "").strip()
    return Path(folder).expanduser() if folder else None


def typed_paths_allowed() -> bool:
    return os.environ.get(ENV_ALLOW_PATHS, "").strip() == "1"


def folder_checkpoints() -> list[Path]:
    """The ``*.pt`` files of ``$INERTIALAR_MODELS_DIR`` (sorted), or none."""
    folder = models_dir()
    return sorted(p for p in folder.glob("*.pt") if p.is_file()) if folder is not None and folder.is_dir() else []


def allowed(path: Path) -> bool:
    """Whether a typed path lies in an allowed place: a shipped checkpoint or a file inside the models
    folder (after resolving ``..`` and links). Decided from the path alone: the answer never depends
    on whether the file exists."""
    target = Path(os.path.realpath(path.expanduser()))
    shipped = {Path(os.path.realpath(p)) for p in (default_path(), moses_path())}
    folder = models_dir()
    inside = folder is not None and Path(os.path.realpath(folder)) in target.parents
    return target in shipped or inside


@st.cache_resource(show_spinner="Loading checkpoint …", max_entries=2)
def _load_bytes(digest: str, data: bytes) -> tuple[InertialAR, dict]:
    return load_checkpoint(data)


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
    folder = {f"Models folder: {p.name}": p for p in folder_checkpoints()}
    choice = sb.radio("Checkpoint", [DEFAULT_CHOICE, MOSES_CHOICE, *folder, UPLOAD_CHOICE, PATH_CHOICE],
                      key="ckpt.choice",
                      help=f"The shipped default is {default.name} (QM9); the drug-like model is {moses_path().name} "
                           "(MOSES SMILES, MMFF94 conformers). More checkpoints appear here from the folder "
                           f"${ENV_MODELS_DIR}; 'Upload' reads a .pt into memory. "
                           + ("'Path …' loads any file of this machine." if typed_paths_allowed() else
                              "'Path …' loads only files in those places on this server."))
    device = sb.selectbox("Device", _devices(), key="ckpt.device",
                          help="Where sampling runs. CUDA appears when a GPU is visible.")
    loaded: LoadedModel | None = None
    if choice == MOSES_CHOICE:
        try:
            loaded = load(moses_path(), device)
        except CheckpointError as err:
            sb.error(f"{err}. Using the shipped default instead.")
    if choice in folder:
        try:
            loaded = load(folder[choice], device)
        except CheckpointError as err:
            sb.error(f"{err}. Using the shipped default instead.")
    if choice == UPLOAD_CHOICE:
        up = sb.file_uploader(f"InertialAR checkpoint (.pt, ≤ {UPLOAD_MB} MB)", type=["pt"], key="ckpt.upload")
        if up is not None:
            data = up.getvalue()
            if len(data) > UPLOAD_MB * 2**20:
                sb.error(f"{up.name} is {len(data) / 2**20:.0f} MB; the limit is {UPLOAD_MB} MB. "
                         "Using the shipped default instead.")
            else:
                try:
                    model, meta = _load_bytes(hashlib.sha256(data).hexdigest(), data)
                    model = model.to(device)
                    loaded = LoadedModel(model, meta, up.name, f"upload:{hashlib.sha256(data).hexdigest()[:16]}@{device}",
                                         device, True, polisher_for(model.cfg))
                except CheckpointError as err:
                    sb.error(f"{str(err).replace('<memory>', up.name)}. Using the shipped default instead.")
    if choice == PATH_CHOICE:
        typed = sb.text_input("Checkpoint path", key="ckpt.path", placeholder="/path/to/checkpoint.pt").strip()
        if typed and not typed_paths_allowed() and not allowed(Path(typed)):
            sb.error(REFUSED + " Using the shipped default instead.")
        elif typed:
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


METRIC_WORDS = (("mol_stability", "Molecule stability"), ("atom_stability", "atom stability"),
                ("validity", "validity"), ("valid_x_unique", "valid and unique"), ("novelty", "novelty"))


def metrics_line(meta: dict) -> str | None:
    """The checkpoint's own measured metrics in words: 'Molecule stability 24.8% · … (1,000 … molecules, …)'."""
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    parts = [f"{label} {metrics[key]:.1%}" for key, label in METRIC_WORDS if isinstance(metrics.get(key), float)]
    if not parts:
        return None
    n = metrics.get("n")
    mode = metrics.get("mode")
    how = f"{mode} mode" if mode else "the default sampler when the checkpoint was exported"
    return " · ".join(parts) + (f" ({n:,} unconditional molecules, {how})" if isinstance(n, int) else f" ({how})")


def training_line(meta: dict, parameters: int) -> str:
    """'Trained 65.7 epochs (9,661 steps) in 8 minutes on an NVIDIA H100 · 6.7 M parameters'."""
    parts = []
    if isinstance(meta.get("epochs"), (int, float)):
        steps = f" ({meta['steps']:,} steps)" if isinstance(meta.get("steps"), int) else ""
        parts.append(f"{meta['epochs']:.1f} epochs{steps}")
    hours = meta.get("wall_hours")
    when = (f" in {hours * 60:.0f} minutes" if hours < 1 else f" in {hours:.1f} hours") if isinstance(hours, float) else ""
    device = meta.get("device")
    where = f" on {'the CPU' if device == 'cpu' else f'an {device}'}" if isinstance(device, str) else ""
    trained = ("Trained " + parts[0] + when + where) if parts else "Training record not stored"
    return f"{trained} · {parameters / 1e6:.1f} M parameters"


def _show_meta(sb, loaded: LoadedModel) -> None:
    if not loaded.trained:
        sb.caption(f"In use: **{RANDOM_LABEL}**")
        return
    model = loaded.model
    sb.caption(f"In use: **{loaded.label}** on {loaded.device} · data: {model.cfg.spec.label} · "
               f"elements {' '.join(model.cfg.elements)} · up to {model.cfg.max_atoms} atoms")
    line = metrics_line(loaded.meta)
    if line:
        sb.markdown(line)
    sb.caption(training_line(loaded.meta, sum(p.numel() for p in model.parameters())))
    sb.caption("Polished by the learned polisher." if loaded.polisher is not None else "No polisher for this model.")
    sb.page_link("pages/benchmarks.py", label="Model card and benchmarks", icon=":material/monitoring:")
