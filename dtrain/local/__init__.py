"""Local mode: a CreateTrainingJob request run on this machine with SageMaker's contract.

    job = LocalTrainingJob(request, workdir=Path(".dtrain"), hosts=2,
                           channel_paths={"train": Path("data/cifar10")})
    result = job.start().wait()

See dtrain/local/job.py for the statuses, layout.py for the directory tree.
"""

from dtrain.local.config import LocalConfig
from dtrain.local.errors import LocalModeError
from dtrain.local.job import HostProgress, JobResult, LocalTrainingJob

__all__ = ["HostProgress", "JobResult", "LocalConfig", "LocalModeError", "LocalTrainingJob"]
