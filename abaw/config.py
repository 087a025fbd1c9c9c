"""Typed TOML configs: frozen dataclasses, strict keys, paths relative to the config file, overrides."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from abaw.errors import AbawError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The `[data]` section every stage shares: where Aff-Wild2 lives and where outputs go."""

    annotations: Path = Path("data/annotations")
    test_template: Path = Path("data/test_template.txt")
    cropped_aligned: Path = Path("data/cropped_aligned")
    videos: Path = Path("data/videos")
    output_root: Path = Path("outputs")
    video_timing: Path | None = None  # `video,fps,frames` CSV from `abaw timing`; None: probe the videos


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into one clear message."""
    path = Path(path)
    if not path.is_file():
        raise AbawError(f"{path}: config file not found")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise AbawError(f"{path}: invalid TOML ({exc})") from exc


def load_config(cls: type[T], path: str | Path, overrides: typing.Sequence[str] = ()) -> T:
    """Load `path` into the dataclass `cls`, applying `section.key=value` overrides first."""
    path = Path(path).resolve()
    raw = read_toml(path)
    for item in overrides:
        apply_override(raw, item, cls)
    return build(cls, raw, base=path.parent, where=str(path))


def load_section(cls: type[T], path: str | Path, section: str, overrides: typing.Sequence[str] = ()) -> T:
    """Load one section of a config file (other sections are ignored), e.g. `[data]` for `abaw doctor`;
    `overrides` may only set keys of that section."""
    path = Path(path).resolve()
    raw = read_toml(path)
    for item in overrides:
        apply_override(raw, item, dataclasses.make_dataclass("Root", [(section, cls)]))
    if section not in raw:
        raise AbawError(f"{path}: no [{section}] section")
    return build(cls, raw[section], base=path.parent, where=str(path), prefix=section)


def apply_override(raw: dict[str, Any], item: str, cls: type | None = None) -> None:
    """Set `a.b=value` inside the nested dict; the value is read as TOML, else kept as a string.

    With `cls` (the config dataclass), a key it lacks is an error naming the valid keys, and a relative
    path resolves against the working directory, where the user typed it (paths written in the TOML
    resolve against its folder)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise AbawError(f"--set {item!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    parts = key.strip().split(".")
    if cls is not None:
        value = from_cwd(override_hint(cls, parts, item), value)
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise AbawError(f"--set {item!r}: {part!r} is not a section")
    node[parts[-1]] = value


def override_hint(cls: type, parts: list[str], item: str) -> Any:
    """The type of the field that the key `parts` names in `cls`, checking each part on the way."""
    hint: Any = cls
    for depth, part in enumerate(parts):
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # Optional[X] -> X
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if hint is dict or typing.get_origin(hint) is dict:
            return Any  # a free-form table: any key is valid
        if not dataclasses.is_dataclass(hint):
            raise AbawError(f"--set {item}: {'.'.join(parts[:depth])} is a value, not a section")
        names = [f.name for f in dataclasses.fields(hint)]
        if part not in names:
            where = f"[{'.'.join(parts[:depth])}]" if depth else "the config's top level"
            raise AbawError(f"--set {item}: unknown key {part} in {where}; valid keys: {', '.join(names)}")
        hint = typing.get_type_hints(hint)[part]
    return hint


def from_cwd(hint: Any, value: Any) -> Any:
    """A relative path string (or list of them) for a path field, made absolute against the working
    directory; anything else unchanged."""
    args = typing.get_args(hint)
    is_path = hint is Path or Path in args or (typing.get_origin(hint) in (tuple, list) and Path in args)
    if not is_path:
        return value
    if isinstance(value, str) and value:
        return os.path.abspath(os.path.expanduser(value))
    if isinstance(value, list):
        return [os.path.abspath(os.path.expanduser(v)) if isinstance(v, str) and v else v for v in value]
    return value


def build(cls: type[T], raw: dict[str, Any], base: Path, where: str, prefix: str = "") -> T:
    """Build dataclass `cls` from a dict, checking keys and types and resolving paths against `base`.

    Fields left out take their defaults; relative default paths also resolve against `base`.
    """
    label = f"{where} [{prefix}]" if prefix else where
    if not isinstance(raw, dict):
        raise AbawError(f"{label}: expected a table, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise AbawError(
            f"{label}: unknown key(s) {', '.join(unknown)}; valid keys are: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in raw:
            values[name] = convert(hints[name], raw[name], base, where, key)
        elif dataclasses.is_dataclass(hints[name]):
            values[name] = build(hints[name], {}, base, where, key)
        elif hints[name] is Path and f.default is not dataclasses.MISSING:
            values[name] = convert(Path, str(f.default), base, where, key)
    return cls(**values)


def convert(hint: Any, value: Any, base: Path, where: str, key: str) -> Any:
    """Convert one TOML value to the field type `hint`; `key` names it in errors."""
    label = f"{where}: {key}"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            if type(None) in typing.get_args(hint):
                return None
        return convert(options[0], value, base, where, key)
    if hasattr(hint, "from_toml"):  # a value with several TOML forms parses itself
        return hint.from_toml(value, label)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, base, where, key)
    if hint is Path:
        if not isinstance(value, str):
            raise AbawError(f"{label}: expected a path string, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise AbawError(f"{label}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [convert(item, v, base, where, key) for v in value] if item is not Any else list(value)
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise AbawError(f"{label}: expected a table, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise AbawError(f"{label}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and
                                                  not (hint is int and isinstance(value, bool))):
        raise AbawError(f"{label}: expected {hint.__name__}, got {value!r}")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain TOML-able values (paths as strings, None dropped)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None:
            continue
        if hasattr(value, "to_toml"):
            out[f.name] = value.to_toml()
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, Path):
            out[f.name] = str(value)
        elif isinstance(value, tuple):
            out[f.name] = [str(v) if isinstance(v, Path) else v for v in value]
        else:
            out[f.name] = value
    return out


def config_to_toml(cfg: Any) -> str:
    """Serialise a config dataclass as TOML (scalars first, then one table per section)."""
    return dump_toml(to_dict(cfg))


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    lines = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for key, value in data.items():
        if isinstance(value, dict) and value:
            section = dump_toml(value, f"{prefix}.{key}" if prefix else key)
            lines.extend(["", section] if lines else [section])
    return "\n".join(lines) + ("\n" if not prefix else "")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def config_sha(cfg: Any) -> str:
    """A short fingerprint of the resolved config, recorded in outputs to detect stale caches."""
    return hashlib.sha256(config_to_toml(cfg).encode()).hexdigest()[:12]
