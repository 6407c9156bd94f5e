"""Which S3 locations the platform's execution role may reach, and the request's that it may not.

A job whose role cannot read a channel or write its output fails with S3 AccessDenied after
minutes of provisioning. With platform settings, `dtrain validate`, `render` and `submit` check
every S3 location of every request an execution makes (dtrain.requests.execution_requests) against the
role's S3 statements, and refuse an unreachable one before anything is sent: what a training
job reads (channels, the code tarball) or writes (output, checkpoints, TensorFlow's model_dir),
what a processing job reads (inputs, its script) or writes (outputs), the model data a model
serves and what a transform job reads and writes. Every one of them runs as the execution role.

ROLE_S3_GRANTS mirrors, statement by statement (same Sid), the S3 part of the execution role
that stacks/training_stack.py builds; tests/stacks/test_role_reach_mirror.py compares the two
on the synthesized template, so a change to either side without the other fails.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.platform import PlatformSettings

Access = Literal["read", "write"]
BucketRole = Literal["data", "artifacts", "checkpoints"]
JOBS = "{jobs}"  # the key prefix of output_s3_uri / checkpoint_s3_uri (storage_stack.JOBS_PREFIX)


@dataclass(frozen=True)
class RoleGrant:
    """One S3 object statement of the execution role: `key_pattern` is IAM's resource pattern
    after `arn:aws:s3:::<bucket>/` (`*` matches any characters, `/` included)."""

    sid: str
    access: frozenset[Access]
    bucket: BucketRole
    key_pattern: str


ROLE_S3_GRANTS: Final[tuple[RoleGrant, ...]] = (
    RoleGrant("ReadTrainingData", frozenset({"read"}), "data", "*"),
    RoleGrant("ReadWriteJobOutputAndCheckpoints", frozenset({"read", "write"}), "artifacts", f"{JOBS}/*"),
    RoleGrant("ReadWriteJobOutputAndCheckpoints", frozenset({"read", "write"}), "checkpoints", f"{JOBS}/*"),
    RoleGrant("ReadJobSourceTarballs", frozenset({"read"}), "artifacts", "*/source/sourcedir.tar.gz"),
    # A spec's local processing script, uploaded by `dtrain submit` beside the tarball.
    RoleGrant("ReadJobSourceTarballs", frozenset({"read"}), "artifacts", "*/source/processing/*"),
)


@dataclass(frozen=True)
class Location:
    """An S3 location of a request: a whole prefix (`S3Prefix` channels, output) or one object."""

    field: str
    uri: str
    access: frozenset[Access]
    prefix: bool


def _split(uri: str) -> tuple[str, str]:
    body = uri.removeprefix("s3://")
    bucket, _, key = body.partition("/")
    return bucket, key


@dataclass(frozen=True)
class ResolvedGrant:
    access: frozenset[Access]
    bucket: str
    key_pattern: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key_pattern}"

    def covers(self, location: Location) -> bool:
        bucket, key = _split(location.uri)
        if bucket != self.bucket:
            return False
        if not location.prefix:
            return fnmatch.fnmatchcase(key, self.key_pattern)
        # Every key under the prefix must match: only a pattern `<literal>*` whose literal the
        # prefix starts with does that; or the prefix is the very object an exact-name grant
        # allows (the code channel of an isolated job names its tarball as an S3Prefix).
        if not self.key_pattern.endswith("*") and fnmatch.fnmatchcase(key, self.key_pattern):
            return True
        head, star, tail = self.key_pattern.partition("*")
        return bool(star) and not tail and "?" not in head and "[" not in head and key.startswith(head)


def describes_role_reach(platform: PlatformSettings) -> bool:
    """Settings from a stack that names its data bucket describe the role's whole S3 reach;
    older settings (no data_s3_uri) do not, and the check is skipped rather than guessed."""
    return bool(platform.data_s3_uri)


def role_grants(platform: PlatformSettings) -> tuple[ResolvedGrant, ...]:
    """ROLE_S3_GRANTS with the platform's bucket names and jobs prefix filled in."""
    artifacts, output_key = _split(platform.output_s3_uri)
    checkpoints, checkpoint_key = _split(platform.checkpoint_s3_uri)
    data, _ = _split(platform.data_s3_uri or "")
    buckets = {
        "data": (data, ""),
        "artifacts": (artifacts, output_key),
        "checkpoints": (checkpoints, checkpoint_key),
    }
    out = []
    for grant in ROLE_S3_GRANTS:
        bucket, jobs = buckets[grant.bucket]
        out.append(ResolvedGrant(grant.access, bucket, grant.key_pattern.replace(JOBS, jobs.strip("/"))))
    return tuple(out)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def request_locations(request: Mapping[str, Any], operation: str = "CreateTrainingJob") -> Iterator[Location]:
    """Every S3 location the job's role touches, named by the spec field that sets it."""
    yield from _LOCATIONS.get(operation, _no_locations)(request)


def _no_locations(request: Mapping[str, Any]) -> Iterator[Location]:
    """Endpoint configs and endpoints name no S3 location of their own."""
    return iter(())


_READ: frozenset[Access] = frozenset({"read"})
_WRITE: frozenset[Access] = frozenset({"write"})


def _training_locations(request: Mapping[str, Any]) -> Iterator[Location]:
    for channel in request.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            continue
        name = channel["ChannelName"]
        # With network isolation the builder passes the code tarball as the channel "code".
        isolated_code = name == "code" and bool(request.get("EnableNetworkIsolation"))
        field = "estimator.source_dir" if isolated_code else f"inputs.{name}"
        yield Location(field, source["S3Uri"], _READ, source.get("S3DataType", "S3Prefix") == "S3Prefix")
    hyperparameters = request.get("HyperParameters", {})
    submit_dir = hyperparameters.get("sagemaker_submit_directory", "").strip('"')
    if submit_dir.startswith("s3://"):
        yield Location("estimator.source_dir", submit_dir, _READ, not submit_dir.endswith(".tar.gz"))
    output = request.get("OutputDataConfig", {}).get("S3OutputPath")
    if output:
        # SageMaker writes <output>/<job>/output/model.tar.gz (and output.tar.gz).
        job = request.get("TrainingJobName", "")
        yield Location(
            "estimator.output_path", "s3://" + _join(output.removeprefix("s3://"), job), _WRITE, True
        )
    model_dir = hyperparameters.get("model_dir", "").strip('"')
    if model_dir.startswith("s3://"):
        yield Location("estimator.output_path", model_dir, frozenset({"read", "write"}), True)
    checkpoint = request.get("CheckpointConfig", {}).get("S3Uri")
    if checkpoint:
        # Spot restarts read back what the job wrote.
        yield Location("estimator.checkpoint_s3_uri", checkpoint, frozenset({"read", "write"}), True)


def _processing_locations(request: Mapping[str, Any]) -> Iterator[Location]:
    # The builder appends the script as the last input, named "code" (ScriptProcessor's).
    inputs = request.get("ProcessingInputs", [])
    for i, item in enumerate(inputs):
        source = item.get("S3Input")
        if source is None:
            continue
        is_code = i == len(inputs) - 1 and item.get("InputName") == "code"
        if is_code:
            # An S3Prefix naming the script's own key (ScriptProcessor's): one object is read.
            yield Location("processing.run.code", source["S3Uri"], _READ, False)
            continue
        field = f"processing.run.inputs[{i}].source"
        yield Location(field, source["S3Uri"], _READ, source.get("S3DataType", "S3Prefix") == "S3Prefix")
    for i, item in enumerate(request.get("ProcessingOutputConfig", {}).get("Outputs", [])):
        output = item.get("S3Output")
        if output is not None:
            yield Location(f"processing.run.outputs[{i}].destination", output["S3Uri"], _WRITE, True)


def _model_locations(request: Mapping[str, Any]) -> Iterator[Location]:
    # The model is served as the execution role, which reads its model data (the trained
    # archive, or the archive the platform repacked with the block's own code).
    data = request.get("PrimaryContainer", {}).get("ModelDataUrl")
    if data:
        yield Location("estimator.output_path", data, _READ, not data.endswith(".tar.gz"))


def _transform_locations(request: Mapping[str, Any]) -> Iterator[Location]:
    source = request.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource")
    if source is not None:
        yield Location(
            "transform.data", source["S3Uri"], _READ, source.get("S3DataType", "S3Prefix") == "S3Prefix"
        )
    output = request.get("TransformOutput", {}).get("S3OutputPath")
    if output:
        yield Location("transform.output_path", output, _WRITE, True)


_LOCATIONS = {
    "CreateTrainingJob": _training_locations,
    "CreateProcessingJob": _processing_locations,
    "CreateModel": _model_locations,
    "CreateTransformJob": _transform_locations,
}


def _allowed(grants: tuple[ResolvedGrant, ...]) -> str:
    reads = [g.uri for g in grants if "read" in g.access]
    writes = [g.uri for g in grants if "write" in g.access]
    return f"it may read {', '.join(reads)} and write {', '.join(writes)}"


def reach_problems(
    request: Mapping[str, Any], platform: PlatformSettings, operation: str = "CreateTrainingJob"
) -> list[SpecError]:
    """One error per location the role cannot reach: field, URI, and what the role may reach."""
    if not describes_role_reach(platform):
        return []
    grants = role_grants(platform)
    problems = []
    for location in request_locations(request, operation):
        missing = sorted(
            a for a in location.access if not any(a in g.access and g.covers(location) for g in grants)
        )
        if missing:
            problems.append(
                SpecError(
                    location.field,
                    location.uri,
                    f"the platform's execution role cannot {' or '.join(missing)} it; {_allowed(grants)}",
                )
            )
    return problems


def check_reach(
    request: Mapping[str, Any], platform: PlatformSettings, operation: str = "CreateTrainingJob"
) -> None:
    problems = reach_problems(request, platform, operation)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecErrors(problems)
