"""Declaring and checking params: `param()` declares a field with its meaning, default and
range (the one place a param is documented: docs/params.md is generated from it), and
`build_section` checks one params section against its dataclass: known keys, types, ranges.

The generic half of `ranker/config.py` (which declares the sections): every error is one
line naming the key and what was wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, Literal

from ranker.errors import ParamError

# Operational settings that left params.yaml (they rerun nothing): where each went.
MOVED = {
    "data.timeout_s": "RANKER_DOWNLOAD_TIMEOUT_S",
    "data.retries": "RANKER_DOWNLOAD_RETRIES",
    "data.max_bytes": "RANKER_DOWNLOAD_MAX_BYTES",
    "distributed.rdzv_endpoint": "PET_RDZV_ENDPOINT",
    "distributed.rdzv_id": "PET_RDZV_ID",
}


def param(
    default: Any,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    open: bool = False,  # both bounds exclusive
    open_min: bool = False,
    advanced: bool = False,
    env: str | None = None,
) -> Any:
    """A dataclass field with its documentation. `advanced`: a switch that leaves the logits
    unchanged (a faster path, gated), listed apart on the params page. `env`: an operational
    setting read from that environment variable, never a DVC param."""
    meta: dict[str, Any] = {"doc": " ".join(doc.split()), "advanced": advanced}
    for key, value in (("min", min), ("max", max), ("env", env)):
        if value is not None:
            meta[key] = value
    if open:
        meta["open"] = True
    if open_min:
        meta["open_min"] = True
    if isinstance(default, list | dict | set):
        raise TypeError("param(): a mutable default; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


def range_text(meta: dict[str, Any]) -> str:
    """The range a field's metadata states, as the errors word it: '>= 1', '(0, 1)'."""
    lo, hi = meta.get("min"), meta.get("max")
    open_lo = meta.get("open", False) or meta.get("open_min", False)
    open_hi = meta.get("open", False)
    if lo is not None and hi is not None:
        return f"{'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"
    if lo is not None:
        return f"{'>' if open_lo else '>='} {lo}"
    if hi is not None:
        return f"<= {hi}"
    return ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (dict, Mapping):
        return "mapping"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def coerce(key: str, value: Any, tp: Any) -> Any:
    """Check `value` against the annotation `tp`; return it (floats may arrive as ints or strings)."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in args:
            return value
        raise ParamError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
    if origin in (dict, Mapping):
        if isinstance(value, dict) and value:
            return {
                coerce(f"{key} (a key)", k, args[0]): coerce(f"{key}.{k}", v, args[1])
                for k, v in value.items()
            }
        raise ParamError(f"{key}: {value!r} is not a mapping of names")
    if origin is tuple:
        if isinstance(value, list | tuple):
            return tuple(coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
        raise ParamError(f"{key}: {value!r} is not a list")
    if args and type(None) in args:
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(key, value, inner[0])
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        # YAML 1.1 (PyYAML) reads `5e-5` as a string; DVC's `-S` writes such values.
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif tp is str and isinstance(value, str) and value.strip():
        return value
    raise ParamError(f"{key}: {value!r} is not a valid {_type_name(tp)}")


def check_range(key: str, value: Any, meta: dict[str, Any]) -> None:
    if value is None or isinstance(value, str | bool):
        return
    lo, hi = meta.get("min"), meta.get("max")
    open_lo = meta.get("open", False) or meta.get("open_min", False)
    open_hi = meta.get("open", False)
    if lo is not None and (value < lo or (open_lo and value == lo)):
        raise ParamError(f"{key}: {value!r} must be {'>' if open_lo else '>='} {lo}")
    if hi is not None and (value > hi or (open_hi and value == hi)):
        raise ParamError(f"{key}: {value!r} must be {'<' if open_hi else '<='} {hi}")


def build_section(cls: type, section: str, raw: Any) -> Any:
    """Build the dataclass `cls` from the mapping `raw`, failing on unknown keys and bad values."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamError(f"{section}: expected a mapping of keys, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if moved := MOVED.get(f"{section}.{unknown[0]}" if unknown else ""):
        raise ParamError(
            f"{section}.{unknown[0]}: no longer a param (it decides nothing about the model); "
            f"set the environment variable {moved} instead"
        )
    if unknown:
        raise ParamError(
            f"{section}.{unknown[0]}: unknown param; valid keys in '{section}': {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = f"{section}.{name}"
        values[name] = coerce(key, value, hints[name])
        check_range(key, values[name], dict(fields[name].metadata))
    return cls(**values)
