"""The worst-case cost of a job spec, from the requests it becomes and a price table.

Priced from the requests themselves (the CreateTrainingJob, CreateProcessingJob,
CreateEndpointConfig and CreateTransformJob requests `dtrain render` prints), so the estimate
counts what SageMaker would be asked for, defaults included, and not a second reading of the
spec. The worst case is the time limit the request sets:

- training: instances x count x `MaxRuntimeInSeconds` (the SDK's `max_run`, default one day),
  once per sweep entry. SageMaker stops a job at that limit, and a RetryStrategy's retries
  count against the same limit ("You can add the StoppingCondition parameter to the request to
  limit the training time for the complete job", API reference, RetryStrategy). Managed Spot
  jobs are billed at the Spot price, which never exceeds on-demand: the worst case is on-demand;
  `max_wait` bounds the wall time, not the billed time.
- the training volumes: `VolumeSizeInGB` x count for the same hours, at the ML storage price.
- warm pools: the instances stay billed for `KeepAlivePeriodInSeconds` after each job ends.
- processing: instances x count x its `MaxRuntimeInSeconds`; without one it has no bound and
  is priced per hour, as endpoints (billed until deleted) and transform jobs (no time limit in
  the request) are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import JobSpec
from dtrain.pricing.price_table import PriceTable
from dtrain.requests.inference_request import inference_requests
from dtrain.requests.processing_request import build_processing_job_request
from dtrain.requests.training_request import build_training_job_request

# CreateTrainingJob's StoppingCondition.MaxRuntimeInSeconds when the request has none (one day).
DEFAULT_MAX_RUN_S = 86400
SPOT_NOTE = (
    "spot: billed at the Spot price, never above on-demand (shown); SageMaker quotes savings of up to 90%"
)


@dataclass(frozen=True)
class CostLine:
    """One priced item: `usd` is the worst-case total when `hours` is set, else the price per hour."""

    item: str
    instance_type: str
    count: int
    usd: float
    hours: float | None = None
    detail: str = ""


@dataclass
class SpecEstimate:
    prices: str  # the table's label: region, date
    bounded: list[CostLine] = field(default_factory=list)
    per_hour: list[CostLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def worst_case_usd(self) -> float:
        return sum(line.usd for line in self.bounded)

    @property
    def per_hour_usd(self) -> float:
        return sum(line.usd for line in self.per_hour)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prices": self.prices,
            "worst_case_usd": round(self.worst_case_usd, 2),
            "per_hour_usd": round(self.per_hour_usd, 4),
            "bounded": [asdict(line) for line in self.bounded],
            "per_hour": [asdict(line) for line in self.per_hour],
            "notes": self.notes,
        }


def _groups(resource_config: dict[str, Any]) -> list[tuple[str, int]]:
    groups = resource_config.get("InstanceGroups")
    if groups:  # a heterogeneous cluster: one (type, count) per instance group
        return [(str(g["InstanceType"]), int(g["InstanceCount"])) for g in groups]
    return [(str(resource_config["InstanceType"]), int(resource_config.get("InstanceCount", 1)))]


def _training(request: dict[str, Any], jobs: int, table: PriceTable, out: SpecEstimate) -> None:
    resources = request["ResourceConfig"]
    max_run = int(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUN_S))
    hours = max_run / 3600 * jobs
    each = f"{jobs} jobs x " if jobs > 1 else ""
    volume_gb = int(resources.get("VolumeSizeInGB", 30))
    keep_alive = int(resources.get("KeepAlivePeriodInSeconds", 0))
    for instance_type, count in _groups(resources):
        price = table.instance_price(instance_type, "training")
        out.bounded.append(
            CostLine(
                "training", instance_type, count, price * count * hours, hours, f"{each}max_run {max_run} s"
            )
        )
        storage = volume_gb * count * table.ml_storage_gb_month * hours / table.hours_per_month
        out.bounded.append(
            CostLine("training volumes", instance_type, count, storage, hours, f"{volume_gb} GB each")
        )
        if keep_alive:
            warm_hours = keep_alive / 3600 * jobs
            out.bounded.append(
                CostLine(
                    "warm pool",
                    instance_type,
                    count,
                    price * count * warm_hours,
                    warm_hours,
                    f"{each}keep_alive {keep_alive} s",
                )
            )
    if request.get("EnableManagedSpotTraining"):
        out.notes.append(SPOT_NOTE)


def _processing(request: dict[str, Any], table: PriceTable, out: SpecEstimate) -> None:
    cluster = request["ProcessingResources"]["ClusterConfig"]
    instance_type, count = str(cluster["InstanceType"]), int(cluster.get("InstanceCount", 1))
    price = table.instance_price(instance_type, "processing")
    limit = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if limit is None:
        out.per_hour.append(
            CostLine("processing", instance_type, count, price * count, None, "no time limit")
        )
        return
    hours = int(limit) / 3600
    out.bounded.append(
        CostLine("processing", instance_type, count, price * count * hours, hours, f"max_runtime {limit} s")
    )
    volume_gb = int(cluster.get("VolumeSizeInGB", 30))
    storage = volume_gb * count * table.ml_storage_gb_month * hours / table.hours_per_month
    out.bounded.append(
        CostLine("processing volumes", instance_type, count, storage, hours, f"{volume_gb} GB each")
    )


def _inference(requests: dict[str, Any], table: PriceTable, out: SpecEstimate) -> None:
    for variant in requests.get("CreateEndpointConfig", {}).get("ProductionVariants", []):
        if "InstanceType" not in variant:  # serverless: billed per request and duration
            out.notes.append(f"endpoint variant {variant.get('VariantName')}: serverless, billed per use")
            continue
        instance_type, count = str(variant["InstanceType"]), int(variant.get("InitialInstanceCount", 1))
        price = table.instance_price(instance_type, "hosting")
        out.per_hour.append(CostLine("endpoint", instance_type, count, price * count, None, "until deleted"))
    transform = requests.get("CreateTransformJob")
    if transform:
        resources = transform["TransformResources"]
        instance_type, count = str(resources["InstanceType"]), int(resources.get("InstanceCount", 1))
        price = table.instance_price(instance_type, "transform")
        out.per_hour.append(
            CostLine("transform", instance_type, count, price * count, None, "until its input is done")
        )


def estimate_spec(spec: JobSpec, platform: PlatformSettings, table: PriceTable) -> SpecEstimate:
    """The spec's worst case; SpecError(s) as `validate` raises them, MissingPrice for a type the
    table lacks."""

    out = SpecEstimate(prices=table.label)
    if platform.region != table.region:
        out.notes.append(f"the platform is in {platform.region}; these are {table.region} prices")
    if spec.processing is not None:
        _processing(build_processing_job_request(spec, platform), table, out)
    request = build_training_job_request(spec, platform)
    _training(request, len(spec.sweep.overrides) if spec.sweep is not None else 1, table, out)
    if spec.deploy is not None or spec.transform is not None:
        _inference(
            inference_requests(
                spec, platform, training_job_name=request["TrainingJobName"], region=platform.region
            ),
            table,
            out,
        )
    return out
