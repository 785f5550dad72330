"""The ``costcalc`` command line: thin click commands that wire options to the engine and renderers.

Errors from the user's input are one line on stderr and an exit status (1: analysis error in a spec
or expression, 2: usage error in options), never a traceback; ``--debug`` (or ``COSTCALC_DEBUG=1``)
shows the traceback for bug reports.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from costcalc.errors import CostcalcError
from costcalc.render.output import quiet_broken_pipe


class CostcalcGroup(click.Group):
    """Turns :class:`CostcalcError` into a one-line message and exit status, and loads a command's
    module only when that command is invoked (or listed, for ``--help``): see :data:`COMMAND_MODULES`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = _load_command(cmd_name)
            if command is not None:
                self.add_command(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            out = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
            return out
        except BrokenPipeError:
            # the reader stopped reading (`| head -1`): end quietly, as other Unix tools do
            quiet_broken_pipe()
            ctx.exit(0)
        except CostcalcError as e:
            if _debug(ctx):
                raise
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except click.exceptions.Exit as e:
            sys.stdout.flush()
            raise e
        except (click.exceptions.Abort, click.ClickException):
            raise
        except RecursionError:
            if _debug(ctx):
                raise
            click.echo("Error: input nested too deeply", err=True)
            ctx.exit(1)
        except Exception as e:  # noqa: BLE001 - the last line of defence: no tracebacks for users
            if _debug(ctx):
                raise
            click.echo(f"Error: internal error: {type(e).__name__}: {e} (run with --debug and report it)",
                       err=True)
            ctx.exit(3)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.params or {}).get("debug")) or os.environ.get("COSTCALC_DEBUG", "") not in ("", "0")


@click.group(cls=CostcalcGroup, context_settings={"help_option_names": ["--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks (for bug reports).")
@click.version_option(package_name="costcalc")
def main(debug: bool) -> None:
    """Analytic multiply-add, FLOP and parameter counts for convolutional networks: exact numbers,
    closed-form formulas, and the ratios that explain why a design is fast."""


def run() -> None:  # pragma: no cover - console entry for `python -m costcalc`
    main()


#: the command each module defines (a module defines standalone click commands and lists them in
#: ``COMMANDS``), so that ``costcalc net`` imports only :mod:`costcalc.commands.net`: importing every
#: command module (and what they import) at start-up cost as much as the command itself. Extend by
#: adding a line here; ``tests/test_layer_cli.py`` checks this table against the modules' ``COMMANDS``.
COMMAND_MODULES: dict[str, str] = {
    "calibrate": "costcalc.commands.latency",
    "compare": "costcalc.commands.explore",
    "derive": "costcalc.commands.derive",
    "import": "costcalc.commands.importing",
    "latency": "costcalc.commands.latency",
    "layer": "costcalc.commands.layer",
    "net": "costcalc.commands.net",
    "plot": "costcalc.commands.explore",
    "ratio": "costcalc.commands.derive",
    "sweep": "costcalc.commands.explore",
    "types": "costcalc.commands.types",
    "verify": "costcalc.commands.verify",
}


def _load_command(name: str) -> click.Command | None:
    """The command ``name`` from its module (None: not a command, or its module is absent)."""
    import importlib

    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:  # a module that exists but fails to import is a bug: show it
            raise
        return None
    for command in getattr(module, "COMMANDS", ()):
        if command.name == name:
            return command
    return None
