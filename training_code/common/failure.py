"""Write SageMaker's failure file when the script dies, as the toolkit's own scripts do.

SageMaker copies the start of <base>/output/failure into the job's FailureReason, so the first line
is the exception itself, followed by the traceback.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from pathlib import Path


def write_failure_file(path: Path, exc: BaseException) -> None:
    text = f"{type(exc).__name__}: {exc}\n\n" + "".join(traceback.format_exception(exc))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: the first failing process on a host wins; its error is the cause, the others'
        # errors are usually the broken connection to it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def run_reporting_failure(main: Callable[[], int], failure_file: Path) -> int:
    """Run ``main``; on an exception write the failure file and re-raise (a non-zero exit)."""
    try:
        return main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            write_failure_file(failure_file, exc)
        raise
    except BaseException as exc:
        write_failure_file(failure_file, exc)
        raise
