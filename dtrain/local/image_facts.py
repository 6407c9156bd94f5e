"""What a packaged image's Dockerfile declares for the processes it starts: ENV, ENTRYPOINT, WORKDIR.

Read from training_code/<image>/Dockerfile itself (no copy to drift): the entry-chain tests start
the image's entry point with the image's environment, and the contract tests hold the Dockerfiles
to what SageMaker's toolkit does with them. Only the final stage counts, as in the built image.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dtrain.local.config import training_code_dir

_ARG_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass
class ImageFacts:
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    runs: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    joined: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        joined.append((keyword.upper(), rest.strip()))
        current = ""
    return joined


def _exec_form(rest: str) -> list[str]:
    if rest.startswith("["):
        value = json.loads(rest)
        return [str(v) for v in value]
    return ["/bin/sh", "-c", rest]


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:  # legacy `ENV NAME value`
        return [(words[0], " ".join(words[1:]))]
    pairs = [word.split("=", 1) for word in words]
    return [(name, value) for name, value in pairs]


def read_image_facts(image: str, root: Path | None = None) -> ImageFacts:
    text = ((root or training_code_dir()) / image / "Dockerfile").read_text()
    facts, args = ImageFacts(), dict[str, str]()

    def expand(value: str) -> str:
        return _ARG_REF.sub(lambda m: args.get(m.group(1), facts.env.get(m.group(1), "")), value)

    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            facts = ImageFacts()  # a new stage starts from its base's settings
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        elif keyword == "ENV":
            for name, value in _env_pairs(rest):
                facts.env[name] = expand(value)
        elif keyword == "ENTRYPOINT":
            facts.entrypoint = _exec_form(rest)
        elif keyword == "CMD":
            facts.cmd = _exec_form(rest)
        elif keyword == "WORKDIR":
            facts.workdir = expand(rest)
        elif keyword in ("COPY", "ADD"):
            words = [w for w in rest.split() if not w.startswith("--")]
            facts.copies.append((words[:-1], expand(words[-1])))
        elif keyword == "RUN":
            facts.runs.append(rest)
    return facts
