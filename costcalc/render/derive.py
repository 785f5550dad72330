"""Render a derivation (``costcalc ratio``/``derive``, :class:`~costcalc.results.Derived`): text,
JSON, LaTeX."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from costcalc.metrics import BY_NAME
from costcalc.num import pretty, to_json
from costcalc.render.boxtable import Blocks, Lines, Text
from costcalc.render.text import tex_escape, tex_math
from costcalc.render.view import View


def value_text(v: Any) -> str:
    """An exact value: ``521/4608 ≈ 0.1131 (1/8.845)``, ``1,806,336``."""
    if isinstance(v, Fraction):
        text = f"{v.numerator}/{v.denominator} ≈ {float(v):.4g}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = f"{v:.6g}"
    if isinstance(v, (Fraction, float)) and 0 < v < 1:
        text += f" (1/{1 / float(v):.4g})"
    return text


def _dims_text(dims: dict[str, Any]) -> str:
    from costcalc.render.text import var_text

    return ", ".join(f"{k}={v if isinstance(v, str) else var_text(v)}" for k, v in dims.items())


def _conditions_line(dv: Any) -> str:
    """Where the derived formula holds; conditions the given numbers satisfy are left out, and a
    condition they break is said (the value is then the formula's, not PyTorch's count)."""
    from costcalc.conditions import Conditions

    c = dv.conditions
    if not c.symbolic:
        return ""
    numbers = {k: v for k, v in (dv.dims or {}).items() if not isinstance(v, str)}
    if "H" in numbers and "W" not in numbers:
        numbers["W"] = numbers["H"]  # W follows H, as in the derivation itself
    open_ = tuple(a for a in c.items if a.holds(numbers) is not True)
    broken = [a.text for a in c.items if a.holds(numbers) is False]
    text = Conditions(open_, c.symbols, c.never).sentence("", quiet=True).replace("the closed form is", "the formula is", 1)
    if broken:
        text += "; not at the given dimensions, so the value is the formula's, not PyTorch's count"
    return text


def derivation_lines(dv: Any) -> list[str]:
    from costcalc.algebra import combined_form

    d = dv.derivation
    lines = [f"{d.expression}    [{BY_NAME[d.metric].label}]", f"  combined  {pretty(d.result)}"]
    if d.expanded != d.result:
        lines.append(f"  expanded  {pretty(d.expanded)}")
    if d.dims:
        at = f"  at        {_dims_text(dict(d.dims))}"
        if d.value is None and d.at is not None:
            at += f":  {pretty(combined_form(d.at))}"
        lines.append(at)
    if d.value is not None:
        lines.append(f"  value     {value_text(d.value)}")
    return lines


def derivation_blocks(dv: Any, view: View) -> Blocks:
    out = Blocks([Lines(derivation_lines(dv))])
    cond = _conditions_line(dv)
    if cond:
        out.append(Text(cond))
    return out


def _as_json(v: Any) -> Any:
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return v


def derivation_json(dv: Any, view: View) -> dict[str, Any]:
    d = dv.derivation
    return {
        "expression": d.expression,
        "metric": d.metric,
        "dims": {k: to_json(v) for k, v in dict(d.dims or {}).items()},
        "result": str(d.result),
        "result_pretty": pretty(d.result),
        "expanded": str(d.expanded),
        "expanded_pretty": pretty(d.expanded),
        "at": None if d.at is None else str(d.at),
        "value": _as_json(d.value),
        "value_float": None if d.value is None else float(d.value),
        "assumptions": dv.conditions.to_json(),
    }


def derivation_latex(dv: Any, view: View) -> str:
    from costcalc.num import to_sympy

    d = dv.derivation
    lines = [f"% costcalc: {d.expression} ({d.metric})", r"\begin{aligned}",
             rf"\text{{{tex_escape(d.expression)}}} &= {tex_math(d.result)}"]
    if d.expanded != d.result:
        lines[-1] += r" \\"
        lines.append(rf"&= {tex_math(d.expanded)}")
    if d.value is not None:
        v = to_sympy(d.value)
        lines[-1] += r" \\"
        at = r",\ ".join(f"{k}={v}" for k, v in (d.dims or {}).items())
        approx = rf" \approx {float(d.value):.4g}" if isinstance(d.value, Fraction) else ""
        lines.append(rf"&= {tex_math(v)}{approx} && ({at})")
    cond = _conditions_line(dv)
    if cond:
        lines[-1] += r" \\"
        lines.append(rf"&\text{{{tex_escape(cond)}}}")
    lines.append(r"\end{aligned}")
    return "\n".join(lines)


def derivation_math(dv: Any, view: View) -> str:
    return "$$" + derivation_latex(dv, view).split("\n", 1)[1] + "$$"


__all__ = ["derivation_blocks", "derivation_json", "derivation_latex", "derivation_lines", "derivation_math",
           "value_text"]
