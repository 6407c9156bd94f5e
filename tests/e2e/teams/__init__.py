"""The team tests (issue 29) on ONE deployment of the app with teams (conftest.py).

A package (this file), not a plain folder: pytest ends a `package`-scoped fixture when the run
leaves the package, while in a folder without `__init__.py` it lasts the whole session. The
deployment is an emulator, which patches moto and the AWS environment process-wide, so it must
be closed before another test file's emulator opens on the same worker.
"""
