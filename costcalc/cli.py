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
    """Turns :class:`CostcalcError` into a one-line message and exit status."""

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


#: modules whose commands the root adds to ``main`` (extend by adding a module here). Each module
#: defines standalone click commands and lists them in ``COMMANDS``.
COMMAND_MODULES = (
    "costcalc.commands.layer",  # layer
    "costcalc.commands.types",  # types
    "costcalc.commands.net",  # net
    "costcalc.commands.derive",  # ratio, derive
    "costcalc.commands.verify",  # verify
    "costcalc.commands.explore",  # compare, sweep, plot
    "costcalc.commands.latency",  # latency, calibrate
    "costcalc.commands.importing",  # import
)


def _load_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a module that exists but fails to import is a bug: show it
                raise
            continue
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_load_commands()
