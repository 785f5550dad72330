"""Where rendered output goes: the rich Console for tables on a terminal or a pipe."""

from __future__ import annotations

import sys
from typing import Any


def console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)
