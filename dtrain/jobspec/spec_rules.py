"""Field-level rules of the job spec, and the service limits they mirror.

The numbers below are CreateTrainingJob's own limits from botocore's SageMaker model; a
test (tests/dtrain/test_spec_rules.py) compares each with the model, so a botocore upgrade
that moves one fails loudly instead of letting a spec through that SageMaker refuses.
They are copied, not read from the model, because the spec checks run before any botocore
import (the CLI's `validate` and the Lambda's fast path stay cheap).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Final

from dtrain.jobspec.naming import MAX_JOB_NAME_LENGTH

__all__ = ["MAX_JOB_NAME_LENGTH"]  # re-exported beside the other limits; the rule is naming's

# --- service limits (botocore SageMaker model, CreateTrainingJobRequest) ------------------
MAX_HYPERPARAMETERS: Final = 100
MAX_HYPERPARAMETER_KEY: Final = 256
MAX_HYPERPARAMETER_VALUE: Final = 2500
MAX_ENVIRONMENT: Final = 100
MAX_ENVIRONMENT_KEY: Final = 512
MAX_ENVIRONMENT_VALUE: Final = 512
MAX_TAGS: Final = 50
# The Submit Lambda adds two tags of its own (the owning execution and the owning team) to every
# job and hosting resource it creates, so a spec and the platform together may bring two fewer
# than CreateTrainingJob's 50.
EXECUTION_TAG_KEY: Final = "dtrain:execution"
TEAM_TAG_KEY: Final = "dtrain:team"
MAX_SPEC_TAGS: Final = MAX_TAGS - 2
MAX_TAG_KEY: Final = 128
MAX_TAG_VALUE: Final = 256
MAX_METRIC_DEFINITIONS: Final = 40
MAX_METRIC_NAME: Final = 255
MAX_METRIC_REGEX: Final = 500
MAX_CHANNELS: Final = 20
MAX_CHANNEL_NAME: Final = 64
MAX_S3_URI: Final = 1024
MAX_SUBNETS: Final = 16
MAX_SECURITY_GROUPS: Final = 5
MAX_VPC_ID: Final = 32
MAX_KEEP_ALIVE_SECONDS: Final = 21600
MIN_RETRY_ATTEMPTS: Final = 1
MAX_RETRY_ATTEMPTS: Final = 30
MAX_TRAINING_IMAGE: Final = 255
MAX_DIRECTORY_PATH: Final = 4096
MAX_CONTENT_TYPE: Final = 256
MAX_KMS_KEY_ID: Final = 2048
MAX_ATTRIBUTE_NAMES: Final = 16
MAX_ATTRIBUTE_NAME: Final = 256
MIN_ROLE_ARN: Final = 20
MAX_ROLE_ARN: Final = 2048
MIN_FILE_SYSTEM_ID: Final = 11
MAX_FILE_SYSTEM_ID: Final = 21

TRAINING_INPUT_MODES: Final = ("File", "Pipe", "FastFile")
S3_DATA_TYPES: Final = ("S3Prefix", "ManifestFile", "AugmentedManifestFile")
S3_DISTRIBUTIONS: Final = ("FullyReplicated", "ShardedByS3Key")
COMPRESSION_TYPES: Final = ("None", "Gzip")
RECORD_WRAPPERS: Final = ("None", "RecordIO")
FILE_SYSTEM_TYPES: Final = ("FSxLustre", "EFS")
FILE_SYSTEM_ACCESS_MODES: Final = ("ro", "rw")

# --- patterns (service patterns, matched against the whole value) --------------------------
CHANNEL_NAME_RE: Final = re.compile(r"[A-Za-z0-9\.\-_]+")
# Stricter than the service's "(https|s3)://..." on purpose: a bucket name and a key.
S3_URI_RE: Final = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/.*)?")
ROLE_ARN_RE: Final = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
FILE_SYSTEM_ID_RE: Final = re.compile(r"fs-[0-9a-f]{8,}")
VPC_ID_RE: Final = re.compile(r"[-0-9a-zA-Z]+")
ENV_KEY_RE: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
KMS_KEY_RE: Final = re.compile(r"[a-zA-Z0-9:/_-]*")
# Tag keys and values: letters, separators and digits of any script, and _ . : / = + - @.
# \s minus the control characters Python counts as space: those are not separators (\p{Z}).
TAG_RE: Final = re.compile(r"(?:[^\W_]|[^\S\t\n\r\x0b\x0c\x1c-\x1f\x85]|[_.:/=+\-@])*")
# SageMaker's instance types: ml.<family>.<size>; the exact list is the model's enum, checked
# when the request is built.
INSTANCE_TYPE_RE: Final = re.compile(r"ml\.[a-z0-9-]+\.[a-z0-9-]+")


def full_match(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` for a near miss, else the list of what is allowed."""
    options = sorted(candidates)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if len(options) > 12:  # the instance type enum has hundreds: name a few, not all
        return f"allowed: {', '.join(options[:6])}, ... ({len(options)} in all)"
    return f"allowed: {', '.join(options)}"


def unknown_key_rule(word: str, candidates: Iterable[str]) -> str:
    return f"unknown key; {did_you_mean(word, candidates)}"


# --- packaged images and the distributions they can launch ----------------------------------
# Which `distribution` strategies the toolkit inside each packaged image turns into a launch; any
# other runs the script once per host, uncoordinated (each host alone, both writing the same
# model and checkpoint names), so the spec is refused. Sources:
# - ddp: the PyTorch DLC's sagemaker_pytorch_container.training.train (sagemaker-pytorch-training):
#   mpi -> MPI, pytorchddp and smdistributed -> SMDataParallel (mpirun), torch_distributed ->
#   torchrun; nothing for TensorFlow's strategies.
# - horovod: sagemaker_tensorflow_container.training.train (sagemaker-tensorflow-training, set as
#   SAGEMAKER_TRAINING_MODULE in training_code/horovod/Dockerfile): parameter_server (a ps per host
#   + TF_CONFIG), multi_worker_mirrored_strategy (TF_CONFIG), mpi -> MPI; smdistributed needs
#   SageMaker's smdistributed library, which only the DLCs carry.
IMAGE_DISTRIBUTIONS: Final = {
    "ddp": ("mpi", "pytorchddp", "smdistributed", "torch_distributed"),
    "horovod": ("mpi", "multi_worker_mirrored_strategy", "parameter_server"),
}


def image_launches(image: str, strategy: str) -> bool:
    """Whether the packaged `image` can launch `strategy` (a custom image URI: its own business)."""
    return image not in IMAGE_DISTRIBUTIONS or strategy in IMAGE_DISTRIBUTIONS[image]


def image_distribution_rule(image: str) -> str:
    """The one-line rule for a strategy the packaged `image` cannot launch."""
    return (
        f"the {image} image launches only {', '.join(IMAGE_DISTRIBUTIONS[image])}: its toolkit would run "
        "the script alone on every host; pick one of those or another image_uri"
    )
