"""What the package carries beside its modules: the training code, the Lambda handlers, cdk.json's
context, the job-spec examples and the pins the Lambda assets and local mode read.

The checkout keeps them where its users know them (training_code/, lambda/, cdk.json, examples/,
requirements-*.txt); dtrain/bundled/ links to them and the wheel build copies the linked files in
(pyproject.toml, [tool.setuptools.package-data]). So a checkout and an installed wheel answer the
same paths through importlib.resources, and nothing is found by walking up from a module to a
checkout. Standard library only: the CLI and local mode import this without the CDK.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

BUNDLED = "bundled"


class MissingPackageData(FileNotFoundError):
    """The installed package lacks a file it should carry (a broken or partial install)."""


def bundled(*parts: str) -> Path:
    """A path under dtrain/bundled/, resolved (in a checkout: the linked file itself, so asset
    hashes and relative paths read as before); raises MissingPackageData when it is not there."""
    resource = files("dtrain").joinpath(BUNDLED, *parts)
    # A wheel installs as plain files, so the Traversable is a real path (never a zip member).
    path = Path(str(resource)).resolve()
    if not path.exists():
        raise MissingPackageData(f"dtrain is missing its package data {BUNDLED}/{'/'.join(parts)} ({path})")
    return path


def training_code_dir() -> Path:
    """training_code/: the packaged images' build context and local mode's code."""
    return bundled("training_code")


def lambda_dir() -> Path:
    """lambda/: one folder per orchestration Lambda, each with its handler.py."""
    return bundled("lambda")


def lambda_requirements() -> Path:
    """requirements-lambda.txt: the pins the Lambda assets vendor."""
    return bundled("requirements-lambda.txt")


def cdk_json() -> Path:
    """cdk.json: the platform app's default context (settings and the CDK feature flags)."""
    return bundled("cdk.json")


def examples_dir() -> Path:
    """examples/: the job specs (`dtrain demo` submits one of them)."""
    return bundled("examples")
