"""CLI subcommands: each module here defines `register(subparsers)`.

`dtrain.cli` discovers the modules of this package, so a new command is one new file.
Modules keep heavy imports inside their handlers: `dtrain --help` must stay instant.
"""
