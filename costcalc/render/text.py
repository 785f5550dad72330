"""How values read, in one place: counts, formulas, variables, shapes, shares, LaTeX.

Every renderer (table, Markdown, CSV, LaTeX, HTML, plots) formats through these functions, so a
value prints the same way everywhere:

- a count is exact with thousands separators (``3,857,973,248``), or with ``--human`` three
  significant digits and an SI prefix (``3.86 G``);
- a formula is its canonical form (:func:`canonical`) pretty-printed (``76848·R² + 2048000``);
  JSON carries the same expression in sympy syntax (``76848*R**2 + 2048000``);
- a variable prints as the user wrote it: ``alpha=0.75``, not ``3/4``;
- a shape is ``H × W × C``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from costcalc.num import is_int, normalize, pretty, var_json

#: SI prefixes for --human
_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def is_number(v: Any) -> bool:
    v = normalize(v)
    return is_int(v) or isinstance(v, (Fraction, float))


def canonical(v: Any) -> Any:
    """The one form a quantity of a network is shown in: numbers as they are, formulas expanded
    into a sum of terms (``76848·R² + 2048000``, not ``16·(4803·R² + 128000)``)."""
    v = normalize(v)
    if is_int(v) or isinstance(v, (Fraction, float, bool, str)) or v is None:
        return v
    import sympy

    return normalize(sympy.expand(v))


def human(v: int | Fraction | float, unit: str = "") -> str:
    """``3857973248`` → ``3.86 G`` (three significant digits; ``unit`` appended)."""
    x = float(v)
    for div, prefix in _PREFIXES:
        if abs(x) >= div:
            text = f"{x / div:.3g} {prefix}"
            break
    else:
        text = f"{x:.3g}" + (" " if unit else "")
    return text + unit if unit else text.rstrip()


def count(v: Any, human_units: bool = False, unit: str = "") -> str:
    """A count or formula as a table shows it."""
    v = normalize(v)
    if human_units and is_number(v):
        return human(v, unit)
    return pretty(v)


def var_text(v: Any) -> str:
    """A spec variable's value as the user wrote it: ``0.75``, ``224``, ``R``, ``7/20``."""
    j = var_json(v)
    if isinstance(j, float):
        return repr(j) if j != int(j) else str(int(j))
    if isinstance(j, int):
        return str(j)
    return pretty(v).replace(",", "")


def vars_text(vars_: dict[str, Any], sep: str = ", ") -> str:
    return sep.join(f"{k}={var_text(v)}" for k, v in vars_.items())


def shape_text(s: Any) -> str:
    return " × ".join(pretty(v).replace(",", "") for v in s)


def shape_json(s: Any) -> list[Any]:
    from costcalc.num import to_json

    return [to_json(canonical(v)) for v in s]


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def share(part: Any, whole: Any) -> float | None:
    """``part / whole`` as a float, None unless both are numbers and ``whole`` is not 0."""
    if is_int(part) and is_int(whole) and whole:
        return part / whole
    return None


def bar(x: float | None, width: int = 20) -> str:
    """A share as a bar of eighth blocks (``x`` = 1 fills ``width`` cells)."""
    if x is None:
        return ""
    full = x * width
    n = int(full)
    eighths = int((full - n) * 8)
    return "█" * n + ("▏▎▍▌▋▊▉"[eighths - 1] if eighths else "")


def ratio_text(x: Any) -> str:
    """A ratio between two totals: ``0.24×`` for numbers, the formula otherwise."""
    if x is None:
        return "—"
    x = normalize(x)
    if is_int(x) or isinstance(x, Fraction):
        return f"{float(x):.2f}×"
    return pretty(x)


# ----------------------------------------------------------------------------------------------
# LaTeX


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#",
        "$": r"\$", "^": r"\^{}", "~": r"\~{}"}


def tex_escape(s: str) -> str:
    """Text for LaTeX: the special characters escaped."""
    return "".join(_TEX.get(ch, ch) for ch in s)


def tex_math(v: Any) -> str:
    """A count or formula in LaTeX math (no dollars): ``3{,}857{,}973{,}248``, ``76848 R^{2} + …``."""
    v = normalize(v)
    if is_int(v):
        return f"{v:,}".replace(",", "{,}")
    if isinstance(v, Fraction):
        return rf"\frac{{{v.numerator}}}{{{v.denominator}}}"
    import sympy

    from costcalc.num import to_sympy

    return str(sympy.latex(to_sympy(v)))


def tex_cell(v: Any, human_units: bool = False, unit: str = "") -> str:
    """A table cell in LaTeX: a number as text, a formula in ``$…$``."""
    v = normalize(v)
    if human_units and is_number(v):
        return tex_escape(human(v, unit))
    if is_int(v):
        return tex_math(v)
    return f"${tex_math(v)}$"


def html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
