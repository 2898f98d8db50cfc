"""Shared loading helpers: YAML files -> mappings, pydantic errors -> one-line ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .fileio import safe_load_yaml

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic error location -> dotted field path, e.g. ('dram', 'bandwidth') -> 'dram.bandwidth'.

    List indices become ``[i]``; the ``[key]`` marker pydantic adds for a bad mapping key is dropped
    (the key itself is already the last part of the path).
    """
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def config_error_from_validation(source: str, err: ValidationError) -> ConfigError:
    """One ConfigError carrying every pydantic error, the first one in front."""
    items = []
    for e in err.errors(include_url=False):
        msg = str(e.get("msg", "invalid"))
        inp = e.get("input")
        if e.get("type") in {"extra_forbidden"}:
            msg = "unknown key (not a field of this section)"
        elif e.get("type") == "invalid_key":
            msg = f"keys must be strings, got {inp!r}"
        items.append((field_path(tuple(e.get("loc", ()))), msg))
    if not items:  # pragma: no cover - pydantic always gives at least one
        items = [("<root>", str(err))]
    return ConfigError(source, items[0][0], items[0][1], all_errors=[f"{f}: {m}" for f, m in items])


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; every failure is a ConfigError naming the file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: e.g. an embedded NUL in the path
        raise ConfigError(source, "<file>", f"cannot read file ({type(exc).__name__}: {exc})") from None
    return parse_yaml_mapping(text, source)


def parse_yaml_mapping(text: str, source: str) -> dict[str, Any]:
    """Parse YAML text that must hold a mapping (safe loader); failures are ConfigErrors."""
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, "<yaml>", f"invalid YAML{where}: {problem}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:  # pathological documents
        raise ConfigError(source, "<yaml>", f"invalid YAML: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, "<root>", f"must be a mapping of sections, got {type(data).__name__}")
    return data


def validate_model(model: type[M], data: Any, source: str) -> M:
    """`model.model_validate(data)` with every failure turned into a ConfigError naming `source`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc) from None
    except (RecursionError, OverflowError, TypeError, ValueError) as exc:  # defensive: odd inputs
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(source, "<root>", f"{type(exc).__name__}: {exc}") from None
