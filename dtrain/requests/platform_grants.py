"""The role a platform job runs as and the images it may pull, checked before anything is sent.

The Submit Lambda may pass only the platform's execution role to SageMaker (its iam:PassRole
statement names that one role ARN, with iam:PassedToService sagemaker.amazonaws.com:
stacks/orchestration_stack.py), and that role pulls only the platform's packaged image
repositories and the Deep Learning Containers' inference repositories of the stack's region
(stacks/training_stack.py, stacks/hosting_permissions.py). SageMaker pulls a job's image as the
job's role: "During model training, SageMaker needs your permission to ... download a Docker
image that contains training code" (CreateTrainingJob, RoleArn, SageMaker API Reference); the
same holds for processing jobs and models (ExecutionRoleArn).

So a notebook's `role=` or an image from some other registry passes SageMaker's model and
`dtrain validate`'s rules, then fails on the platform: CreateTrainingJob is refused for
iam:PassRole, or the job fails pulling the image. With platform settings (validate/render
--platform, submit, the state machine's Prepare) both are refused here, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator

from dtrain.jobspec.errors import SpecError, SpecErrors
from dtrain.jobspec.inference_images import DLC_ACCOUNTS, INFERENCE_IMAGES, dlc_registry
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import JobSpec


def image_repository(image_uri: str) -> str:
    """`registry/repository` of an image URI, without its tag or digest."""
    name = image_uri.split("@", 1)[0]
    registry, _, path = name.partition("/")
    repository = path.rsplit(":", 1)[0] if ":" in path.rsplit("/", 1)[-1] else path
    return f"{registry}/{repository}"


def platform_repositories(platform: PlatformSettings) -> tuple[str, ...]:
    """The repositories of the platform's packaged images (the execution role pulls them)."""
    return tuple(sorted({image_repository(uri) for uri in platform.image_uris.values()}))


def inference_repositories(region: str) -> tuple[str, ...]:
    """The Deep Learning Containers' inference repositories in `region` (hosting_permissions);
    none in a region without them."""
    if region not in DLC_ACCOUNTS:
        return ()
    registry = dlc_registry(region)
    return tuple(sorted(f"{registry}/{images.repository}" for images in INFERENCE_IMAGES.values()))


def _role_fields(spec: JobSpec) -> Iterator[tuple[str, str | None]]:
    yield "estimator.role", spec.estimator.role
    if spec.processing is not None:
        yield "processing.processor.role", spec.processing.role
    if spec.deploy is not None:
        yield "deploy.role", spec.deploy.model.role
    if spec.transform is not None and spec.transform.model is not None:
        yield "transform.role", spec.transform.model.role


def _image_fields(spec: JobSpec) -> Iterator[tuple[str, str | None, bool]]:
    """(field, image URI given, whether a model serves it)."""
    if spec.estimator.packaged_image is None:
        yield "estimator.image_uri", spec.estimator.image_uri, False
    if spec.processing is not None and spec.processing.packaged_image is None:
        yield "processing.processor.image_uri", spec.processing.image_uri, False
    if spec.deploy is not None:
        yield "deploy.image_uri", spec.deploy.model.image_uri, True
    if spec.transform is not None and spec.transform.model is not None:
        yield "transform.image_uri", spec.transform.model.image_uri, True


def grant_problems(spec: JobSpec, platform: PlatformSettings) -> list[SpecError]:
    """One error per role the platform may not pass and per image its role may not pull."""
    problems: list[SpecError] = []
    for field, role in _role_fields(spec):
        if role is not None and role != platform.role_arn:
            problems.append(
                SpecError(
                    field,
                    role,
                    f"the platform passes only its execution role {platform.role_arn} to SageMaker "
                    "(iam:PassRole): leave role out",
                )
            )
    own = platform_repositories(platform)
    hosting = inference_repositories(platform.region)
    for field, image, served in _image_fields(spec):
        if image is None:
            continue
        allowed = own + hosting if served else own
        if image_repository(image) not in allowed:
            where = ", ".join(allowed) if allowed else "no repository (the settings name no images)"
            problems.append(
                SpecError(field, image, f"the platform's execution role cannot pull it; it pulls {where}")
            )
    return problems


def check_grants(spec: JobSpec, platform: PlatformSettings) -> None:
    problems = grant_problems(spec, platform)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecErrors(problems)
