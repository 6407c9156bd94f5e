"""Installs into the virtualenv of the Python that runs it, with uv, what its pip would install.

    VENV/bin/python scripts/uv_install.py [uv pip install arguments: -r FILE, --no-deps, ...]

`make setup` builds seven virtualenvs, three of them with torch and one with TensorFlow. pip
unpacks and byte-compiles every wheel into every virtualenv, one file after another; uv (pinned in
requirements-uv.txt, installed into .venv-uv by the Makefile) unpacks a wheel once into its cache,
hard-links it from there into each virtualenv and works in parallel. The virtualenvs are still
made by `python -m venv` (the same pip and setuptools in them as before).

uv reads no pip configuration (pip.conf files and PIP_* variables), while a machine's indexes,
find-links and constraints live there: where a local wheel (a CPU build of torch, say) is found
only through pip's find-links, uv left alone would fetch another build. So this script passes
pip's effective settings (`pip config list`, as this virtualenv's pip sees them) to uv on its
command line, and asks uv to choose among the indexes as pip does.

Unlike pip, uv does not byte-compile what it installs unless asked (--compile-bytecode, passed on
like any other argument): make sets PYTHONPYCACHEPREFIX, so a module is compiled on its first
import into the clone's .dtrain/pycache instead, and most installed modules never are. Only the
image stand-ins (.venv-toolkit, .venv-hvd), whose processes run with the image's
PYTHONDONTWRITEBYTECODE=1, are installed with --compile-bytecode (the Makefile says why).

Choosing as pip does: pip takes the highest version found in any index, and of that version the
wheel whose tags fit best among ALL the indexes' files; uv (--index-strategy unsafe-best-match)
takes the highest version too, but that version's files from the first index that lists it. A
mirror often holds only some of a version's wheels (here: bcrypt, pynacl, multiprocess and
tensorboard-data-server builds differed from pip's while the mirrors came first), so pip's own
index (PyPI unless configured) comes first and the extra indexes after it, in pip's order.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

UV = Path(__file__).resolve().parents[1] / ".venv-uv" / "bin" / "uv"
# pip's option -> uv's, for the settings that decide where distributions come from.
LISTS = {"find-links": "--find-links", "constraint": "--constraint", "trusted-host": "--allow-insecure-host"}
FLAGS = {"no-index": "--no-index"}
# pip's settings read by uv from the environment instead of its command line.
ENVIRONMENT = {"cert": "SSL_CERT_FILE", "timeout": "UV_HTTP_TIMEOUT", "default-timeout": "UV_HTTP_TIMEOUT"}
# Settings of pip's own output and checks, with nothing to say about what gets installed.
UNUSED = {"disable-pip-version-check", "root-user-action", "quiet", "verbose", "progress-bar", "no-color",
          "no-input", "cache-dir", "no-cache-dir", "retries"}  # fmt: skip
# Where pip looks up an `install` option: the later section wins.
SECTIONS = ("global", "install", ":env:")


def pip_settings(python: str) -> dict[str, str]:
    """pip's effective settings for `pip install` by this interpreter, by option name."""
    listed = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, dict[str, str]] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        section, _, name = key.partition(".")
        found.setdefault(name, {})[section] = ast.literal_eval(value)
    return {name: by[s] for name, by in found.items() for s in SECTIONS if s in by}


def default_index() -> str:
    """pip's index-url when none is configured (PyPI's), from pip itself: pip prints no defaults,
    so it comes from pip's own constant."""
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def uv_options(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's command-line options and environment for pip's settings."""
    # The indexes in pip's order, first one first (the docstring says why): uv gives its --index
    # options priority in the order given, before its default index (also pip's index-url).
    index = settings.get("index-url") or default_index()
    options = ["--default-index", index]
    for url in [index, *settings.get("extra-index-url", "").split()]:
        options += ["--index", url]
    environment: dict[str, str] = {}
    for name, value in settings.items():
        if name in ("index-url", "extra-index-url"):
            continue
        if name in LISTS:
            for item in value.split():  # pip splits a list setting on white space
                options += [LISTS[name], item]
        elif name in FLAGS:
            if value.lower() in ("1", "true", "yes", "on"):
                options.append(FLAGS[name])
        elif name in ENVIRONMENT:
            environment[ENVIRONMENT[name]] = value
        elif name not in UNUSED:
            print(f"uv_install: pip setting {name}={value!r} has no uv counterpart here; not passed on",
                  file=sys.stderr)  # fmt: skip
    return options, environment


def main(arguments: list[str]) -> int:
    if not UV.exists():
        print(f"uv_install: {UV} is missing: `make .venv-uv/.stamp` installs it", file=sys.stderr)
        return 1
    options, environment = uv_options(pip_settings(sys.executable))
    command = [str(UV), "pip", "install", "--python", sys.executable, "--index-strategy", "unsafe-best-match",
               *options, *arguments]  # fmt: skip
    # uv byte-compiles (--compile-bytecode) with the virtualenv's Python, which would write into
    # make's PYTHONPYCACHEPREFIX instead of the virtualenv's __pycache__ folders.
    uv_environment = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    return subprocess.run(command, env={**uv_environment, **environment}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
