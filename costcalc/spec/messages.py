"""How spec values and places are shown in messages: ``file:line:col``, brief values, suggestions."""

from __future__ import annotations

from typing import Any

from costcalc.layers.base import suggest
from costcalc.spec.yamlio import LDict, LList


def _at(file: str, d: Any, key: str | None = None) -> str:
    """``file:line:col`` of ``key`` in the loaded mapping ``d``, or of ``d`` itself; ``file`` alone
    when the position is unknown (a document built in code)."""
    if key is not None and key in getattr(d, "key_lines", {}):
        return f"{file}:{d.key_lines[key]}:{d.key_cols[key]}"
    line = getattr(d, "line", 0)
    if line:
        return f"{file}:{line}:{d.col}"
    return file


def _suggest(word: str, options: Any) -> str:
    """`` (did you mean 'M'?)``: a case-insensitive exact match first, then close spellings."""
    if not isinstance(word, str):
        return ""
    opts = list(options)
    same_case = [o for o in opts if isinstance(o, str) and o.lower() == word.lower() and o != word]
    if same_case:
        return f" (did you mean {same_case[0]!r}?)"
    return suggest(word[:100], opts)


def _kind(v: Any) -> str:
    return {dict: "mapping", LDict: "mapping", list: "list", LList: "list", str: "string",
            bool: "boolean", int: "number", float: "number"}.get(type(v), type(v).__name__)


def _kind_a(v: Any) -> str:
    k = _kind(v)
    return f"an {k}" if k[0] in "aeiou" else f"a {k}"


def _brief(v: Any, quote: bool = True, limit: int = 60) -> str:
    """A value as shown in a message: its repr (or the text itself), on one line, at most ``limit``
    characters."""
    if isinstance(v, (LDict, LList)):
        v = type(v).__mro__[1](v)
    s = repr(v) if quote else str(v)
    s = "".join(ch if ch.isprintable() else " " for ch in s)
    return s if len(s) <= limit else s[: limit - 3] + "..."

