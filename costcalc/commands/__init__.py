"""The commands of ``costcalc``, one module each. A module defines standalone click commands and lists
them in ``COMMANDS``; :mod:`costcalc.cli` (the root) adds them to its group (the modules are listed
in :data:`costcalc.cli.COMMAND_MODULES`). Options used by several commands live in
:mod:`costcalc.commands.options`. Keep heavy imports (sympy, torch, matplotlib) inside the command
functions: the CLI's start-up time is a feature."""
