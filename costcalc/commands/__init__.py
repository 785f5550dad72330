"""Command modules beyond ``layer`` and ``types``. Each module defines click commands and adds them to
:data:`costcalc.cli.main`; :data:`costcalc.cli.COMMAND_MODULES` lists them. Keep heavy imports
(sympy, torch, matplotlib) inside the command functions: the CLI's start-up time is a feature."""
