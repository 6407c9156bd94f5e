"""Lambda code assets built by plain file copies: lambda/<fn>/ plus the dtrain package.

No Docker and no PythonFunction: the Lambdas need only the standard library, boto3 (in the
runtime) and dtrain/, so bundling is a copy. The asset hash is taken from the output, so a
change in dtrain/ gives new assets even though the source directory is lambda/<fn>/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ROOT = REPO_ROOT / "lambda"
DTRAIN_ROOT = REPO_ROOT / "dtrain"
# What the Lambdas never import: the CLI, local mode and the emulator stay out of the zip.
_EXCLUDED = ("__pycache__", "*.pyc", "local", "emulator", "commands", "demo.py", "remote")


@jsii.implements(ILocalBundling)
class CopyBundler:
    def __init__(self, function_dir: Path) -> None:
        self.function_dir = function_dir

    def try_bundle(self, output_dir: str, options: Any = None, **_kw: Any) -> bool:
        out = Path(output_dir)
        for item in self.function_dir.iterdir():
            if item.name == "__pycache__":
                continue
            if item.is_dir():
                shutil.copytree(item, out / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, out / item.name)
        shutil.copytree(
            DTRAIN_ROOT, out / "dtrain", dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_EXCLUDED)
        )
        return True


def function_code(function: str) -> lambda_.Code:
    source = LAMBDA_ROOT / function
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"lambda/{function}/handler.py is missing")
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Never used: local bundling always succeeds. CDK requires an image anyway.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
            local=CopyBundler(source),
        ),
    )
