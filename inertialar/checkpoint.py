"""The one checkpoint format and loader: weights, model config, format version, training metadata.

A checkpoint is a ``torch.save`` dict of tensors and plain values only::

    {"format": "inertialar-checkpoint", "version": 1, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor}, "meta": {...}}

It is read with ``torch.load(weights_only=True)``, so loading never executes code from the file.
Every failure (missing, corrupt, foreign, incompatible) becomes a one-line ``CheckpointError``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from inertialar.model import InertialAR, ModelConfig

FORMAT = "inertialar-checkpoint"
VERSION = 1
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "assets" / "inertialar_qm9.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line."""


def save_checkpoint(path: str | Path, model: InertialAR, meta: dict, half: bool = False) -> None:
    """Write weights (parameters stored as fp16 if ``half``; fixed buffers such as the Nyström
    factors stay fp32), config and metadata atomically."""
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.half() if half and k in params and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "config": model.cfg.to_dict(), "state_dict": state,
               "meta": meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    tmp.replace(path)


def read_payload(path: str | Path) -> dict:
    """The checkpoint dict, validated for format and version (weights_only: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt zip, pickle with code, truncated file ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} is not a readable InertialAR checkpoint ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an InertialAR checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {payload.get('version')}; "
                              f"this code reads version {VERSION}")
    return payload


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> tuple[InertialAR, dict]:
    """Model (float32, eval mode, on ``device``) and metadata from a checkpoint file."""
    payload = read_payload(DEFAULT_CHECKPOINT if path is None else path)
    try:
        cfg = ModelConfig.from_dict(payload["config"])
        model = InertialAR(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in payload["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0][:120]
        raise CheckpointError(f"{path} does not match this model code ({first})") from None
    try:
        model = model.to(torch.device(device))
    except (RuntimeError, AssertionError) as err:
        raise CheckpointError(f"cannot use device {device!r}: {str(err).splitlines()[0][:120]}") from None
    return model.eval(), dict(payload.get("meta", {}))
