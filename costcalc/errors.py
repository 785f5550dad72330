"""Errors that reach the user as one line and an exit status, never as a traceback."""

from __future__ import annotations


class CostcalcError(Exception):
    """A problem with the user's input. ``str(err)`` is the one-line message shown to the user.

    ``exit_code`` follows click's conventions: 1 for an analysis error (bad spec contents),
    2 for a usage error (bad options or arguments on the command line).
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(CostcalcError):
    """Bad command-line options or arguments (exit status 2)."""

    exit_code = 2


class SpecError(CostcalcError):
    """Bad contents of a network spec file (exit status 1)."""

    exit_code = 1


class ExprError(CostcalcError):
    """An expression that is malformed, unsafe, too large or refers to unknown names."""

    exit_code = 1
