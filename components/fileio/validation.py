"""One-line messages from pydantic validation errors, the same style for every schema of the project:
``<where>: <field.path>: <what is wrong> (got <value>)``, plus ``(+N more)`` when several fields fail."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = ["field_path", "validation_message"]


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic error location -> ``a.b[3].c``; union / tagged-union branch names are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("[key]",) or (isinstance(part, str) and part.startswith(("function-", "literal["))):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_message(where: str, err: ValidationError) -> str:
    """One line naming ``where``, the first failing field, the reason and the offending value."""
    items = err.errors(include_url=False)
    if not items:  # pragma: no cover - pydantic always reports at least one
        return f"{where}: invalid"
    e = items[0]
    msg = str(e.get("msg", "invalid"))
    loc = tuple(e.get("loc", ()))
    if e.get("type") == "extra_forbidden":
        msg = "unknown key"
    elif e.get("type") == "missing" and loc:
        msg = f"'{loc[-1]}' is required"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = ""
    if "input" in e and e.get("type") not in ("missing", "extra_forbidden") and not isinstance(e["input"], dict):
        got = f" (got {_short(e['input'])})"
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return " ".join(f"{where}: {field_path(loc)}: {msg}{got}{more}".split())
