"""The commands of ``costcalc``, one module each. A module defines standalone click commands and lists
them in ``COMMANDS``; :mod:`costcalc.cli` (the root) loads a command's module when that command runs
(the table :data:`costcalc.cli.COMMAND_MODULES` names each command's module: add new commands
there). Options used by several commands live in :mod:`costcalc.commands.options`. Keep heavy
imports (sympy, torch, matplotlib) inside the command functions: the CLI's start-up time is a feature."""
