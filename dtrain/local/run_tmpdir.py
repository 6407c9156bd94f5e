"""A temporary folder of a `dtrain local` run's own, removed when the run ends.

What the run starts writes its temporary files where TMPDIR says, and not all of it cleans up:
torchrun's elastic agent makes a `torchelastic_*` log folder with mkdtemp and leaves it there
(torch.distributed.elastic, LocalElasticAgent's log directory when --log-dir is not given), and
a command killed half-way leaves whatever it had open. So the run's processes get a TMPDIR
inside a folder made for the run, and that folder goes when the run ends, however it ends:
here on a normal end, an error or a signal (dtrain local turns SIGTERM/SIGHUP into
KeyboardInterrupt), and by the run's reaper (dtrain/local/reaper.py reads SCRATCH_ENV) when
dtrain itself is killed outright.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRATCH_ENV = "DTRAIN_LOCAL_SCRATCH"
PREFIX = "dtrain-local-"


@contextmanager
def run_tmpdir() -> Iterator[Path]:
    """TMPDIR (for this process and its children) is a new folder for the `with` block."""
    saved_env = {key: os.environ.get(key) for key in ("TMPDIR", SCRATCH_ENV)}
    saved_tempdir = tempfile.tempdir
    scratch = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.environ["TMPDIR"] = str(scratch)
    os.environ[SCRATCH_ENV] = str(scratch)
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        yield scratch
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = saved_tempdir
        shutil.rmtree(scratch, ignore_errors=True)
