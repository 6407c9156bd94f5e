"""The SageMaker inference images a `deploy` / `transform` block runs when it names no image_uri.

What SDK 2.220's `image_uris.retrieve(framework, region, version, py_version, instance_type,
image_scope="inference")` returns for the PyTorch inference Deep Learning Container
(TorchServe + sagemaker-pytorch-inference-toolkit) and the TensorFlow Serving container: the
same registry account per region, repository, tag (`<version>-<cpu|gpu>[-<py_version>]`) and
aliases (`2.1` -> `2.1.0`). Source of truth: the SDK's
`sagemaker/image_uri_config/{pytorch,tensorflow}.json` ("inference" scope) and
`sagemaker/image_uris.py` (`_processor`, `_format_tag`); only the versions the platform's
trainers can produce are listed (PyTorch >= 1.10, TensorFlow >= 2.9), not the SDK's whole
history. tests/dtrain/test_sdk_parity.py compares every row here with the SDK's own answer.

The training images are the platform's packaged images (training_code/*/Dockerfile, FROM
the PyTorch training DLC of the same registry); no inference Dockerfile is needed: the DLCs
serve model.tar.gz with its `code/inference.py` as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dtrain.jobspec.errors import SpecError

# The Deep Learning Containers' registry account per region: AWS's published table ("Region
# Availability", https://github.com/aws/deep-learning-containers/blob/master/docs/reference/
# region_availability.md), plus the GovCloud and ISO rows of SDK 2.220's image_uri_config
# "registries", which that table leaves out. The stack grants the execution role the row of the
# region it deploys to (stacks/hosting_permissions.py) and builds the ddp image on that region's
# registry (dlc_build_args); the core asks for images there (dlc_registry).
DLC_ACCOUNTS: Mapping[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "mx-central-1": "637423239942",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
    # SDK 2.220 image_uri_config "registries" (not in the table above).
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-iso-east-1": "886529160074",
    "us-isob-east-1": "094389454867",
}
# The regions the SDK's inference images are published in (its "registries" keys).
# A subset of DLC_ACCOUNTS: the SDK's answer is compared with ours for each (test_sdk_parity).
DLC_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-3",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
# ECR's DNS suffix by partition (botocore's endpoint data, as the SDK resolves "ecr").
_DNS_SUFFIXES = (("cn-", "amazonaws.com.cn"), ("us-isob-", "sc2s.sgov.gov"), ("us-iso-", "c2s.ic.gov"))
# SDK 2.220 fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY: served by "-graviton" images.
GRAVITON_FAMILIES = frozenset({"m6g", "m6gd", "c6g", "c6gd", "c6gn", "c7g", "r6g", "r6gd"})


@dataclass(frozen=True)
class InferenceImages:
    """One framework's inference images: repository, versions (-> py_version in the tag)."""

    repository: str
    versions: Mapping[str, str | None]  # full version -> py_version of the tag (None: no py part)
    aliases: Mapping[str, str]  # "2.1" -> "2.1.0"


INFERENCE_IMAGES: Mapping[str, InferenceImages] = {
    "pytorch": InferenceImages(
        repository="pytorch-inference",
        versions={
            "1.10.0": "py38",
            "1.10.2": "py38",
            "1.11.0": "py38",
            "1.12.0": "py38",
            "1.12.1": "py38",
            "1.13.1": "py39",
            "2.0.0": "py310",
            "2.0.1": "py310",
            "2.1.0": "py310",
            "2.2.0": "py310",
        },
        aliases={
            "1.10": "1.10.2",
            "1.11": "1.11.0",
            "1.12": "1.12.1",
            "1.13": "1.13.1",
            "2.0": "2.0.1",
            "2.1": "2.1.0",
            "2.2": "2.2.0",
        },
    ),
    # TensorFlow Serving; its tags carry no Python version.
    "tensorflow": InferenceImages(
        repository="tensorflow-inference",
        versions=dict.fromkeys(
            (
                "2.9.2",
                "2.9.3",
                "2.10.0",
                "2.10.1",
                "2.11.0",
                "2.11.1",
                "2.12.1",
                "2.13.0",
                "2.14.1",
            )
        ),
        aliases={
            "2.9": "2.9.3",
            "2.10": "2.10.1",
            "2.11": "2.11.1",
            "2.12": "2.12.1",
            "2.13": "2.13.0",
            "2.14": "2.14.1",
        },
    ),
}
# SDK 2.220 TensorFlowModel: models trained with 2.12.0 are served by 2.12.1 (no 2.12.0 image).
TENSORFLOW_SERVING_FOR_TRAINING = {"2.12.0": "2.12.1"}


def ecr_dns_suffix(region: str) -> str:
    return next((s for prefix, s in _DNS_SUFFIXES if region.startswith(prefix)), "amazonaws.com")


def dlc_registry(region: str) -> str:
    """`<account>.dkr.ecr.<region>.<dns suffix>` of the Deep Learning Containers in `region`
    (SpecError for a region without them)."""
    account = DLC_ACCOUNTS.get(region)
    if account is None:
        raise SpecError("region", region, "the Deep Learning Containers are not published there")
    return f"{account}.dkr.ecr.{region}.{ecr_dns_suffix(region)}"


def dlc_build_args(region: str) -> dict[str, str]:
    """The build arguments of training_code/ddp/Dockerfile that name `region`'s DLC registry."""
    dlc_registry(region)  # a region without DLCs is refused here, before a build is tried
    return {"REGION": region, "DLC_ACCOUNT": DLC_ACCOUNTS[region], "DLC_DNS_SUFFIX": ecr_dns_suffix(region)}


def processor_for(instance_type: str | None) -> str:
    """SDK image_uris._processor: gpu for the g and p families, else cpu; serverless (None) is cpu."""
    if instance_type is None:
        return "cpu"
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else ""
    if not family:
        raise SpecError("instance_type", instance_type, "must look like ml.<family>.<size>")
    return "gpu" if family[0] in ("g", "p") else "cpu"


def inference_image_uri(
    framework: str,
    framework_version: str,
    region: str,
    instance_type: str | None,
    py_version: str | None = None,
    *,
    field: str = "deploy",
) -> str:
    """The inference image URI, or SpecError naming `field.<what>` and the versions there are."""
    images = INFERENCE_IMAGES[framework]
    # The tag keeps the version as asked ("2.1-gpu-py310": the DLCs publish alias tags too);
    # the alias only picks the row (image_uris._version_for_config).
    asked = framework_version
    if framework == "tensorflow":
        asked = TENSORFLOW_SERVING_FOR_TRAINING.get(asked, asked)
    version = images.aliases.get(asked, asked)
    if version not in images.versions:
        known = sorted({*images.aliases, *images.versions}, key=_version_key)
        raise SpecError(
            f"{field}.framework_version",
            framework_version,
            f"no {framework} inference image for it in SDK 2.220; one of {', '.join(known)}, "
            "or give image_uri",
        )
    if region not in DLC_ACCOUNTS:
        raise SpecError("region", region, "the Deep Learning Containers are not published there")
    family = instance_type.split(".")[1] if instance_type and instance_type.count(".") == 2 else ""
    if family in GRAVITON_FAMILIES or family.startswith(("inf", "trn")):
        raise SpecError(
            f"{field}.instance_type",
            instance_type,
            "Graviton / Inferentia / Trainium need their own images: give image_uri",
        )
    tag_py = images.versions[version]
    if tag_py is not None and py_version is not None and py_version != tag_py:
        raise SpecError(
            f"{field}.py_version", py_version, f"the {framework} {version} inference image is {tag_py}"
        )
    processor = processor_for(instance_type)
    tag = "-".join(part for part in (asked, processor, tag_py) if part)
    return f"{dlc_registry(region)}/{images.repository}:{tag}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
