"""Whether an image's SageMaker training toolkit hands its command to a shell as one string.

sagemaker-training 4.x (`process.run_async`) joins the command with spaces and runs it with
`asyncio.create_subprocess_shell`: a hyperparameter holding a space arrives as two arguments, an
empty one vanishes, and quotes, `\\`, `$` and `*` mean what they mean to /bin/sh. 5.x runs the
argument vector itself (`create_subprocess_exec`). Local mode delivers what the image's own
toolkit delivers, so it needs the version each image pins:

- horovod: `ARG SAGEMAKER_TRAINING_VERSION` in training_code/horovod/Dockerfile (4.8.3);
- ddp: the PyTorch DLC's toolkit, which local mode runs as .venv-toolkit's
  (requirements-toolkit.txt's sagemaker-training pin).
"""

from __future__ import annotations

import re

from dtrain.local.config import training_code_dir
from dtrain.package_data import toolkit_requirements

_DOCKERFILE_PIN = re.compile(r"^ARG\s+SAGEMAKER_TRAINING_VERSION=(\S+)", re.MULTILINE)
_REQUIREMENTS_PIN = re.compile(r"^sagemaker-training==(\S+)", re.MULTILINE)


def toolkit_version(image: str) -> tuple[int, ...]:
    dockerfile = (training_code_dir() / image / "Dockerfile").read_text()
    pinned = _DOCKERFILE_PIN.search(dockerfile)
    if pinned is None:
        pinned = _REQUIREMENTS_PIN.search(toolkit_requirements().read_text())
    if pinned is None:
        raise ValueError(f"no sagemaker-training version pinned for image {image}")
    return tuple(int(part) for part in pinned.group(1).split("."))


def runs_through_shell(image: str | None) -> bool:
    """True when the image's toolkit runs its launch command as one /bin/sh string."""
    return image is not None and toolkit_version(image) < (5,)


def shell_string(argv: list[str]) -> list[str]:
    """The toolkit 4.x's launch of `argv`: the words joined by spaces, run by /bin/sh.

    `exec` makes the shell become the launcher once it has split and expanded the words, so the
    script receives exactly what the toolkit's shell gives it, while local mode's stop (SIGTERM)
    and its output pipe still reach the launcher itself: with a shell in between, mpirun's
    forwarded output after the SIGTERM (the ranks' "SIGTERM: stopping at step N") was lost."""
    return ["/bin/sh", "-c", "exec " + " ".join(argv)]
