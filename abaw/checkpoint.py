"""Checkpoints: written atomically, read with `torch.load(weights_only=True)`, tagged with their architecture.

A checkpoint is a dict `{"format", "kind", "arch", "model", **extra}`: `kind` names the model family
(e.g. "face_transformer"), `arch` is the config dict that builds it, `model` its state dict; `extra`
carries whatever else the writer needs (epoch, metrics, optimizer state for resuming...). Only tensors
and plain values may be stored, so loading never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from abaw.atomic import atomic_path
from abaw.config import to_dict
from abaw.errors import AbawError

FORMAT = "abaw.checkpoint/1"
RESERVED = ("format", "kind", "arch", "model")
NOT_OURS = "{path}: not a checkpoint written by this toolkit (truncated or another format)"


def save_checkpoint(path: str | Path, model_state: Mapping[str, torch.Tensor], *, kind: str,
                    arch: Any = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically. `arch` is a config dataclass or dict describing the architecture."""
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED))
    if clash:
        raise ValueError(f"extra keys {clash} are reserved checkpoint fields")
    payload = {"format": FORMAT, "kind": kind, "arch": plain_arch(arch), "model": dict(model_state), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, kind: str | None = None, arch: Any = None) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; when `kind`/`arch` are given, a different model is an AbawError."""
    path = Path(path)
    if not path.is_file():
        raise AbawError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        if not reason:
            raise AbawError(NOT_OURS.format(path=path)) from exc
        raise AbawError(f"{path}: refused to load, the file holds more than tensors and plain values "
                        f"({reason}); only checkpoints written by abaw can be loaded") from exc
    # A cut or foreign file fails anywhere inside torch.load, with errors of any type and a paragraph
    # of text; which one says nothing more to the user than this line.
    except Exception as exc:
        raise AbawError(NOT_OURS.format(path=path)) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise AbawError(NOT_OURS.format(path=path))
    check_arch(path, ckpt, kind, arch)
    return ckpt


def load_weights(model: nn.Module, path: str | Path, kind: str, arch: Any = None) -> dict[str, Any]:
    """Load a checkpoint's weights into `model` after checking it holds this kind of model; returns it."""
    ckpt = load_checkpoint(path, kind, arch)
    load_state(model, ckpt["model"], str(path))
    return ckpt


def load_state(model: nn.Module, state: Mapping[str, Any], source: str) -> None:
    """Load a state dict, turning a key or shape mismatch into one clear message naming `source`."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:400]
        raise AbawError(f"{source}: the weights do not fit the model ({detail}); the checkpoint comes from "
                        "another architecture") from exc


def check_arch(path: Path, ckpt: Mapping[str, Any], kind: str | None, arch: Any) -> None:
    if kind is not None and ckpt.get("kind") != kind:
        raise AbawError(f"{path}: checkpoint holds a {ckpt.get('kind')!r} model, expected {kind!r}; "
                        "pass a checkpoint trained for this model")
    if arch is None:
        return
    saved, wanted = flatten(ckpt.get("arch") or {}), flatten(plain_arch(arch))
    diffs = [f"{key}: {saved.get(key, '<absent>')!r} in checkpoint, {wanted.get(key, '<absent>')!r} in config"
             for key in sorted(set(saved) | set(wanted)) if saved.get(key) != wanted.get(key)]
    if diffs:
        raise AbawError(f"{path}: architecture differs from the config ({'; '.join(diffs)}); "
                        "make the config match the checkpoint or train a new model")


def plain_arch(arch: Any) -> dict[str, Any]:
    """An architecture description as nested dicts of plain values (lists for sequences, str for paths)."""
    if arch is None:
        return {}
    if dataclasses.is_dataclass(arch) and not isinstance(arch, type):
        arch = to_dict(arch)
    if not isinstance(arch, Mapping):
        raise TypeError(f"arch must be a config dataclass or a dict, got {type(arch).__name__}")
    return {str(k): _plain(v) for k, v in arch.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
