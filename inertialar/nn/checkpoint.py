"""The one checkpoint format and loader: weights, model config, format version, training metadata.

A checkpoint is a ``torch.save`` dict of tensors and plain values only::

    {"format": "inertialar-checkpoint", "version": 1, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor}, "meta": {...}}

It is read with ``torch.load(weights_only=True)``, so loading never executes code from the file.
Every failure (missing, corrupt, foreign, incompatible) becomes a one-line ``CheckpointError``.
A checkpoint split into ``NAME.part00``, ``NAME.part01``, … (to travel as small files, or to stay
under a file-size limit in git) loads by its name; the parts are joined in memory.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from inertialar.chem.molecule import PERIODIC_TABLE
from inertialar.files import ASSETS, atomic_path
from inertialar.nn.model import InertialAR, ModelConfig
from inertialar.nn.peer import Peer, PeerConfig
from inertialar.nn.polisher import Polisher, PolisherConfig

FORMAT = "inertialar-checkpoint"
VERSION = 1
DEFAULT_CHECKPOINT = ASSETS / "inertialar_qm9.pt"
MOSES_CHECKPOINT = DEFAULT_CHECKPOINT.with_name("inertialar_moses.pt")  # drug-like (MOSES, MMFF94 conformers)
POLISHER_FORMAT = "inertialar-polisher"
DEFAULT_POLISHERS = {"qm9": ASSETS / "polisher_qm9.pt", "moses": ASSETS / "polisher_moses.pt"}
PEER_FORMAT = "inertialar-equivariant-peer"
PEER_CHECKPOINT = ASSETS / "peer_qm9.pt"  # the EDM-style equivariant peer (method questions)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


def save_checkpoint(path: str | Path, model: InertialAR, meta: dict, half: bool = False) -> None:
    """Write weights (parameters stored as fp16 if ``half``; fixed buffers such as the Nyström
    factors stay fp32), config and metadata atomically."""
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.half() if half and k in params and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    _write(path, FORMAT, model.cfg.to_dict(), state, meta)


def _write(path: str | Path, fmt: str, config: dict, state: dict, meta: dict) -> None:
    """The one writer: a dict of tensors and plain values, saved atomically (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"format": fmt, "version": VERSION, "config": config, "state_dict": state, "meta": meta}, tmp)


def split_parts(path: Path) -> list[Path]:
    """The parts ``NAME.part00``, ``NAME.part01``, … of a checkpoint split to travel (a GPU window's
    ``window.split_file``), in order; the loader joins them when ``NAME`` itself is absent."""
    parts = sorted(path.parent.glob(path.name + ".part[0-9][0-9]")) if path.parent.is_dir() else []
    return [p for k, p in enumerate(parts) if p.name == f"{path.name}.part{k:02d}"]


def _first_line(err: BaseException, limit: int = 120) -> str:
    """The first line of an error, shortened at a word boundary (never mid-word) to ``limit``."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + " …"


def _unreadable_reason(path: Path, err: BaseException) -> str:
    """Why ``torch.load`` refused a file, in words (PyTorch's own messages run to many lines)."""
    first = path if path.is_file() else split_parts(path)[0]
    with first.open("rb") as f:
        return _bytes_reason(f.read(512), err)


def _bytes_reason(head: bytes, err: BaseException) -> str:
    """Why ``torch.load`` refused data starting with ``head``, in words."""
    head = head[:512]
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # zip (torch.save) or pickle (legacy format)
        kind = "text" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "other data"
        return f"it holds {kind}, not a PyTorch file"
    if "weights_only" in str(err).lower() or "weights only" in str(err).lower():
        return "it holds Python objects besides tensors and plain values; refused, as loading them could run code"
    return f"corrupt or truncated PyTorch file: {_first_line(err, 80)}"


# Bounds on a loaded config, so that a foreign file cannot make the loader allocate absurd sizes.
_LIMITS = {"width": 8192, "depth": 128, "heads": 128, "max_len": 4096, "nystrom_grid": 16}


def _read(path: Path | bytes, fmt: str, what: str) -> dict:
    """A checkpoint's dict of format ``fmt`` (from a file, or bytes held in memory such as an upload),
    checked for version and weight types (weights_only: no code runs)."""
    if isinstance(path, bytes):
        data, path = path, Path("<memory>")
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 — any failure to read is the same one-line refusal
            raise CheckpointError(f"{path} is not a readable {what} ({_bytes_reason(data, err)})") from None
        return _check(payload, path, fmt, what)
    parts = split_parts(path)
    if not path.is_file() and not parts:
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        source = path if path.is_file() else io.BytesIO(b"".join(p.read_bytes() for p in parts))
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt zip, pickle with code, truncated file ...
        raise CheckpointError(f"{path} is not a readable {what} ({_unreadable_reason(path, err)})") from None
    return _check(payload, path, fmt, what)


def _check(payload, path: Path, fmt: str, what: str) -> dict:
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path} is not an {what}")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {payload.get('version')}; "
                              f"this code reads version {VERSION}")
    state, config, meta = payload.get("state_dict"), payload.get("config"), payload.get("meta", {})
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} has no valid weights (state_dict must map names to tensors)")
    if not isinstance(config, dict) or not isinstance(meta, dict):
        raise CheckpointError(f"{path} has a malformed config or metadata")
    return payload


def read_payload(path: str | Path | bytes | None = None) -> dict:
    """The model checkpoint dict (from a file, or bytes in memory), validated for format, version and
    types (weights_only: no code runs)."""
    source = path if isinstance(path, bytes) else Path(DEFAULT_CHECKPOINT if path is None else path)
    payload = _read(source, FORMAT, "InertialAR checkpoint")
    path = Path("<memory>") if isinstance(path, bytes) else source
    config = payload["config"]
    if not isinstance(config.get("backbone"), dict) or not isinstance(config.get("diffusion"), dict):
        raise CheckpointError(f"{path} has a malformed config or metadata")
    for key, limit in _LIMITS.items():
        value = config["backbone"].get(key, 1)
        if not isinstance(value, int) or not 1 <= value <= limit:
            raise CheckpointError(f"{path} has an implausible config value {key}={value!r}")
    return payload


def load_checkpoint(path: str | Path | bytes | None = None, device: str = "cpu") -> tuple[InertialAR, dict]:
    """Model (float32, eval mode, on ``device``) and metadata from a checkpoint file (default: shipped)
    or its bytes (an upload, never written to disk)."""
    payload = read_payload(path)
    path = Path("<memory>") if isinstance(path, bytes) else Path(DEFAULT_CHECKPOINT if path is None else path)
    try:
        cfg = ModelConfig.from_dict(payload["config"])
        cfg.spec  # noqa: B018 — an unknown dataset name raises here, as a CheckpointError
        unknown = [e for e in cfg.elements if e not in PERIODIC_TABLE[1:]]
        if unknown:
            raise ValueError(f"unknown element {unknown[0]!r} in its vocabulary")
        model = InertialAR(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in payload["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{path} does not match this model code ({_first_line(err)})") from None
    try:
        model = model.to(torch.device(device))
    except (RuntimeError, AssertionError, ValueError) as err:
        raise CheckpointError(f"cannot use device {device!r}: {_first_line(err)}") from None
    return model.eval(), dict(payload["meta"]) if "meta" in payload else {}


# Bounds on a loaded polisher or peer config (a foreign file must not make the loader allocate absurd sizes).
_POLISHER_LIMITS = {"width": 4096, "layers": 64, "rbf": 512}


def save_polisher(path: str | Path, model: Polisher | Peer, meta: dict) -> None:
    """Write a polisher's (or the peer's: the same EGNN family) weights (fp32), config and training
    record atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    _write(path, PEER_FORMAT if isinstance(model, Peer) else POLISHER_FORMAT, model.cfg.to_dict(), state, meta)


def _load_egnn(path: Path, fmt: str, what: str, config_type, network):
    """A polisher or peer (float32, eval mode, CPU) and its metadata; every failure one line."""
    payload = _read(path, fmt, what)
    try:
        cfg = config_type.from_dict(payload["config"])
        for key, limit in _POLISHER_LIMITS.items():
            value = getattr(cfg, key)
            if not isinstance(value, int) or not 1 <= value <= limit:
                raise ValueError(f"implausible {key}={value!r}")
        unknown = [e for e in cfg.elements if e not in PERIODIC_TABLE[1:]]
        if unknown:
            raise ValueError(f"unknown element {unknown[0]!r} in its vocabulary")
        model = network(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise CheckpointError(f"{path} does not match this {what.split()[-1]} code ({_first_line(err)})") from None
    return model.eval(), dict(payload["meta"])


def load_polisher(path: str | Path) -> tuple[Polisher, dict]:
    """A polisher (float32, eval mode, CPU) and its metadata; every failure is a one-line CheckpointError."""
    return _load_egnn(Path(path), POLISHER_FORMAT, "InertialAR polisher", PolisherConfig, Polisher)


def load_peer(path: str | Path = PEER_CHECKPOINT) -> tuple[Peer, dict]:
    """The equivariant peer (float32, eval mode, CPU) and its metadata; every failure one line."""
    peer, meta = _load_egnn(Path(path), PEER_FORMAT, "equivariant peer", PeerConfig, Peer)
    if not peer.cfg.atom_counts or sum(peer.cfg.atom_counts) <= 0:
        raise CheckpointError(f"{path} has no atom-count distribution")
    return peer, meta


def is_peer(path: str | Path) -> bool:
    """Whether ``path`` is an equivariant-peer checkpoint (read with weights_only; False if unreadable)."""
    try:
        _read(Path(path), PEER_FORMAT, "equivariant peer")
    except CheckpointError:
        return False
    return True
