"""`make demo`: the whole platform on this machine, through the embedded AWS emulator.

    synth app.py (emulator context) -> deploy every stack into the in-process emulator ->
    sample data into the emulated data bucket -> `dtrain submit --wait` of the DDP example
    with a `deploy` block (2 simulated hosts, CPU): the real state machine, the real Lambdas,
    local mode as SageMaker's backend, the trained model deployed to an endpoint the emulator
    serves (dtrain.emulator.hosting) -> InvokeEndpoint with a few test images: predictions and
    their accuracy -> the execution's result, the model (emulated S3 + a local copy), the SNS
    message, the history -> tear down.

When the emulated chain cannot run, the demo says so and falls back to local mode
(`dtrain local`, same spec, same data). The synth-table helpers (`summarize_assembly`,
`render_table`) print what the emulator deployed.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dtrain.cli import main as cli_main
from dtrain.demo.local_demo import DEMO_DATA, ensure_sample_data, run_local_demo
from dtrain.emulator.local_backend import LOG_GROUP, local_sagemaker_backend
from dtrain.emulator.platform_app import synth_for_emulator
from dtrain.local import LocalConfig
from dtrain.package_data import examples_dir

# The example the demo submits, carried in the package (examples/ in a checkout).
DEMO_SPEC = examples_dir() / "ddp_torchrun.json"
# Its scratch (.dtrain/demo) and sample data go under the directory it runs in (`make demo`: the
# checkout), never beside an installed package.
DEMO_WORKDIR = Path(".dtrain") / "demo"
# The example specs read `{"s3": "data", "path": "cifar10/..."}`: the deployed data bucket,
# the same as on a real deploy (PlatformSettings.data_s3_uri).
DATA_PREFIX = "cifar10"
NOTIFICATIONS_QUEUE = "dtrain-demo-notifications"
# What the demo adds to the example: Estimator.deploy(...)'s arguments. The PyTorch inference
# container of that version serves the model's code/inference.py (packaged by the trainer).
DEMO_DEPLOY = {"instance_type": "ml.m5.large", "initial_instance_count": 1, "framework_version": "2.2"}
# And a shorter run than the example's (40 steps of 64 images a rank): 30 steps of 32 reach the
# same validation accuracy on the sample (0.62 against 0.62, seed 42, 2 hosts) with ~1/3 of the
# images, so the demo's training takes seconds less (issue 32: `make demo` in 30 s). Shown on
# screen beside the deploy block, so what ran is what the screen says.
DEMO_HYPERPARAMETERS = {"batch_size": 32, "max_steps": 30}
# How many test images the demo sends to the endpoint (one request, JSON uint8 images).
PREDICTION_IMAGES = 16
# The functions' log lines (Powertools JSON, EMF metric blobs), one file per demo run.
LAMBDA_LOG = "lambda.log"
# The run's report as JSON (DemoReport.save): what a test or a script reads of a `dtrain demo` it
# ran as a program, as run_emulated_demo's caller reads the object.
REPORT_FILE = "report.json"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class StackSummary:
    name: str
    description: str
    resource_types: Counter[str]
    outputs: tuple[str, ...]
    image_assets: tuple[str, ...]

    @property
    def resource_count(self) -> int:
        return sum(self.resource_types.values())


def summarize_assembly(outdir: Path) -> list[StackSummary]:
    """Read a cloud assembly directory: one summary per CloudFormation stack, in manifest order."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    summaries = []
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        resources = template.get("Resources", {})
        types = Counter(r["Type"] for r in resources.values() if r["Type"] != "AWS::CDK::Metadata")
        assets_file = outdir / f"{name}.assets.json"
        images = json.loads(assets_file.read_text()).get("dockerImages", {}) if assets_file.exists() else {}
        summaries.append(
            StackSummary(
                name=name,
                description=str(template.get("Description", "")),
                resource_types=types,
                outputs=tuple(sorted(template.get("Outputs", {}))),
                image_assets=tuple(
                    sorted(i["source"].get("dockerFile", "Dockerfile") for i in images.values())
                ),
            )
        )
    return summaries


def render_table(summaries: list[StackSummary]) -> str:
    labels = [t for s in summaries for t in s.resource_types]
    labels += [f"container image asset ({d})" for s in summaries for d in s.image_assets]
    width = max([len(label) for label in labels] + [30])
    lines = []
    for summary in summaries:
        lines.append(f"{summary.name}  ({summary.resource_count} resources, {len(summary.outputs)} outputs)")
        if summary.description:
            lines.append(f"  {summary.description}")
        for type_, count in sorted(summary.resource_types.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {type_:<{width}} {count:>3}")
        for dockerfile in summary.image_assets:
            label = f"container image asset ({dockerfile})"
            lines.append(f"    {label:<{width}} {1:>3}")
        lines.append("")
    total = sum(s.resource_count for s in summaries)
    lines.append(f"{len(summaries)} stacks, {total} resources")
    return "\n".join(lines)


# -- the run -------------------------------------------------------------------------------------
@dataclass
class DemoReport:
    """What one demo run measured and found; `benchmarks/demo_phases.py` prints it. The run saves
    it beside the Lambda log (REPORT_FILE)."""

    phases: dict[str, float] = field(default_factory=dict)
    status: str = ""
    execution_arn: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
    model_uri: str | None = None
    model_copy: Path | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    endpoint: str | None = None
    # (true label, predicted label, probability of the prediction) per test image sent
    predictions: list[tuple[int, int, float]] = field(default_factory=list)
    state_transitions: int = 0
    history_events: int = 0
    not_modelled: list[str] = field(default_factory=list)
    submit_exit: int = 0
    # Where the orchestration functions' log lines were written (their log groups' copy).
    lambda_log: Path | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, default=str) + "\n")

    @classmethod
    def load(cls, path: Path) -> DemoReport:
        """A report save() wrote: its paths as Paths, its predictions as tuples again."""
        fields = json.loads(path.read_text())
        for name in ("model_copy", "lambda_log"):
            fields[name] = Path(fields[name]) if fields[name] is not None else None
        fields["predictions"] = [tuple(p) for p in fields["predictions"]]
        return cls(**fields)


@contextmanager
def _phase(report: DemoReport, name: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"\n== {name} ...", flush=True)
    try:
        yield
    finally:
        report.phases[name] = time.perf_counter() - started
        print(f"== {name}: {report.phases[name]:.1f} s", flush=True)


@contextmanager
def _poll_often() -> Iterator[None]:
    # The progress view polls every 5 s by default; a demo job lasts ~20 s, and the wait ends
    # on the first poll after the execution does (each poll: a few in-process emulator calls).
    saved = os.environ.get("DTRAIN_POLL_SECONDS")
    os.environ["DTRAIN_POLL_SECONDS"] = saved or "0.5"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DTRAIN_POLL_SECONDS", None)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value) / 1000.0


def data_bucket(settings: dict[str, Any]) -> str:
    """The deployed platform's data bucket name (its PlatformSettings.data_s3_uri)."""
    uri = str(settings.get("data_s3_uri") or "")
    if not uri.startswith("s3://"):
        raise RuntimeError("the deployed PlatformSettings carry no data_s3_uri (the data bucket)")
    return uri.removeprefix("s3://").split("/", 1)[0]


def _upload_sample_data(emu: Any, data: Path, bucket: str) -> None:
    s3 = emu.client("s3")
    for channel in ("train", "test"):  # the local demo maps both channels to one directory too
        for f in sorted(data.iterdir()):
            if f.is_file():
                s3.upload_file(str(f), bucket, f"{DATA_PREFIX}/{channel}/{f.name}")


def _subscribe_queue(emu: Any) -> str:
    """An SQS queue on the platform topic: the demo reads the notification from it."""
    sqs = emu.client("sqs")
    url = str(sqs.create_queue(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emu.client("sns").subscribe(TopicArn=emu.output("TopicArn"), Protocol="sqs", Endpoint=arn)
    return url


def _read_queue(emu: Any, url: str) -> list[dict[str, Any]]:
    messages = emu.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    out = []
    for m in messages:
        body = json.loads(m["Body"])
        out.append({"subject": body.get("Subject"), "message": body.get("Message")})
    return out


def _training_start_time(emu: Any, job: str) -> float | None:
    """When rank 0's trainer announced itself (process group up, the step loop next), from the
    job's emulated CloudWatch stream. The example logs metrics once per epoch, so its first
    step has no line of its own; the trainers' start line (`... world_size=N ...`) is the mark."""

    events = emu.client("logs").get_log_events(logGroupName=LOG_GROUP, logStreamName=f"{job}/algo-1")
    for event in events["events"]:
        if "world_size=" in event["message"]:
            return float(event["timestamp"]) / 1000.0
    return None


def demo_spec(workdir: Path) -> Path:
    """The example spec with a `deploy` block and the demo's shorter run, written where the demo
    submits it from."""
    spec = json.loads(DEMO_SPEC.read_text())
    spec["deploy"] = dict(DEMO_DEPLOY)
    spec["estimator"]["hyperparameters"].update(DEMO_HYPERPARAMETERS)
    path = workdir / DEMO_SPEC.name
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


def test_images(data: Path, count: int) -> tuple[Any, list[int]]:
    """The first `count` images of the sample's test_batch (uint8 [N, 3, 32, 32]) and labels."""

    import numpy as np

    with open(data / "test_batch", "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    images = np.asarray(batch.get(b"data", batch.get("data")), dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = [int(x) for x in batch.get(b"labels", batch.get("labels"))]
    return images[:count], labels[:count]


def predict_on_endpoint(emu: Any, endpoint: str, data: Path, count: int) -> list[tuple[int, int, float]]:
    """InvokeEndpoint (sagemaker-runtime) with `count` test images as JSON; the model answers
    class probabilities per image (its code/inference.py contract)."""
    images, labels = test_images(data, count)
    reply = emu.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        Body=json.dumps(images.tolist()).encode(),
        ContentType="application/json",
        Accept="application/json",
    )
    probabilities = json.loads(reply["Body"].read())
    out = []
    for label, row in zip(labels, probabilities, strict=True):
        best = max(range(len(row)), key=lambda i: row[i])
        out.append((label, best, float(row[best])))
    return out


def run_emulated_demo(*, workdir: Path = DEMO_WORKDIR, hosts: int = 2) -> DemoReport:
    """The chain end to end; raises when the emulated platform cannot be brought up."""
    workdir = workdir.absolute()
    from dtrain.emulator.core import Emulator
    from dtrain.emulator.schedules import AWS_RATE  # lazy: loads moto's shims, as the emulator does

    report = DemoReport()
    # A fresh job tree each run: local mode keeps a job's checkpoints across runs of the same
    # job name, and the demo should train from step 0, not resume a finished run.
    shutil.rmtree(workdir / "jobs", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    with _phase(report, "synth"):
        assembly = synth_for_emulator(workdir / "cdk.out")
        print(render_table(summarize_assembly(assembly)))

    backend = local_sagemaker_backend(workdir / "jobs", hosts=hosts)
    # The Lambdas' JSON records and metric blobs go to their log groups and to this file, as in
    # Lambda, not onto the demo's screen; the report names the file.
    report.lambda_log = workdir / LAMBDA_LOG
    report.lambda_log.unlink(missing_ok=True)
    print("\n== emulated deploy ...", flush=True)
    deploy_started = time.perf_counter()
    # The schedules at AWS's rate: a job event lost on the way is closed by Reconcile, as deployed.
    with Emulator(
        assembly, sagemaker=backend, lambda_log_file=report.lambda_log, schedule_scale=AWS_RATE
    ) as emu:
        report.phases["emulated deploy"] = time.perf_counter() - deploy_started
        print(f"== emulated deploy: {report.phases['emulated deploy']:.1f} s", flush=True)
        assert emu.deployment is not None
        report.not_modelled = emu.deployment.not_modelled()
        print(f"every stack CREATE_COMPLETE: {', '.join(emu.deployment.stacks)}")
        # The deployed platform's ECR URIs name local mode's packaged images.
        settings = json.loads(emu.output("PlatformSettings"))
        backend.config = LocalConfig.load().with_platform_images(dict(settings.get("image_uris", {})))

        data = _sample_data_phase(emu, report, settings)
        queue = _subscribe_queue(emu)
        spec_path = demo_spec(workdir)
        submit_started = time.time()
        _submit_phase(report, spec_path)
        _record_execution(emu, report, queue, submit_started)
        _use_the_model(emu, report, data, workdir)
        tear_down = time.perf_counter()
    report.phases["tear down"] = time.perf_counter() - tear_down
    report.save(workdir / REPORT_FILE)
    return report


def _sample_data_phase(emu: Any, report: DemoReport, settings: dict[str, Any]) -> Path:
    """Make (or find) the sample data and upload it to the deployed data bucket; its folder."""
    with _phase(report, "sample data"):
        data = DEMO_DATA.absolute()
        made = ensure_sample_data(data)
        bucket = data_bucket(settings)
        _upload_sample_data(emu, data, bucket)
        print(
            f"{'made' if made else 'found'} {data}; uploaded to s3://{bucket}/{DATA_PREFIX}/{{train,test}}/"
        )
    return data


def _submit_phase(report: DemoReport, spec_path: Path) -> None:
    """`dtrain submit --wait` of the demo's spec, as a user would type it."""
    with _phase(report, "submit --wait"), _poll_often():
        here = Path.cwd()
        shown = spec_path.relative_to(here) if spec_path.is_relative_to(here) else spec_path
        added = (
            f"examples/{DEMO_SPEC.name} + deploy {json.dumps(DEMO_DEPLOY)}"
            f" + hyperparameters {json.dumps(DEMO_HYPERPARAMETERS)}"
        )
        print(f"$ dtrain submit {shown} --wait  # {added}", flush=True)
        report.submit_exit = cli_main(["submit", str(spec_path), "--wait"])


def _record_execution(emu: Any, report: DemoReport, queue: str, submit_started: float) -> None:
    """The execution's result, history, notifications and phase times, into the report."""
    sfn = emu.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=emu.state_machine_arn)["executions"]
    arn = str(executions[0]["executionArn"])
    desc = emu.wait_execution(arn, timeout=120)
    report.execution_arn = arn
    report.status = str(desc["status"])
    report.error, report.cause = desc.get("error"), desc.get("cause")
    report.output = json.loads(desc.get("output") or "{}")
    history = emu.history(arn)
    report.history_events = len(history)
    report.state_transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    report.notifications = _read_queue(emu, queue)
    job = str(report.output.get("job_name") or "")
    if job:
        _split_phases(emu, report, job, submit_started, _epoch(desc["stopDate"]))


def _use_the_model(emu: Any, report: DemoReport, data: Path, workdir: Path) -> None:
    """Predictions from the deployed endpoint, and a local copy of the trained model."""
    report.endpoint = (report.output.get("endpoint") or {}).get("endpoint_name")
    if report.endpoint:
        with _phase(report, "invoke endpoint"):
            print(f"$ InvokeEndpoint {report.endpoint} with {PREDICTION_IMAGES} test images", flush=True)
            report.predictions = predict_on_endpoint(emu, report.endpoint, data, PREDICTION_IMAGES)
    report.model_uri = report.output.get("model_artifact")
    if report.model_uri:
        bucket, key = str(report.model_uri).removeprefix("s3://").split("/", 1)
        report.model_copy = workdir / "model.tar.gz"
        emu.client("s3").download_file(bucket, key, str(report.model_copy))


def _split_phases(emu: Any, report: DemoReport, job: str, submitted: float, succeeded: float) -> None:
    """submit -> first step -> training ends -> execution finished, from the emulator's own records."""
    desc = emu.client("sagemaker").describe_training_job(TrainingJobName=job)
    first_step = _training_start_time(emu, job)
    end = desc.get("TrainingEndTime")
    if first_step is not None:
        report.phases["submit to first training step"] = first_step - submitted
    if first_step is not None and end is not None:
        report.phases["training"] = _epoch(end) - first_step
    endpoint = (report.output.get("endpoint") or {}).get("endpoint_name")
    if end is not None and endpoint:
        # Model + endpoint config + endpoint: from the training job's end to InService.
        served = emu.client("sagemaker").describe_endpoint(EndpointName=endpoint)["LastModifiedTime"]
        report.phases["deploy (to InService)"] = _epoch(served) - _epoch(end)
    if end is not None:
        report.phases["callback to SUCCEEDED"] = succeeded - _epoch(end)


def print_report(report: DemoReport) -> None:
    out = report.output
    print("\n== result")
    print(f"execution   {report.execution_arn}")
    print(f"status      {report.status}" + (f" ({report.error}: {report.cause})" if report.error else ""))
    if out:
        print(f"job         {out.get('job_name')}")
        metrics = out.get("final_metrics") or {}
        print("metrics     " + ", ".join(f"{k}={v}" for k, v in sorted(metrics.items())))
    print(f"model       {report.model_uri} (emulated S3)")
    if report.model_copy:
        print(f"            {report.model_copy} (local copy)")
    if report.endpoint:
        print(
            f"endpoint    {report.endpoint} {(out.get('endpoint') or {}).get('status')} (emulated SageMaker)"
        )
    if report.predictions:
        right = sum(1 for label, predicted, _ in report.predictions if label == predicted)
        print(f"predictions {len(report.predictions)} test images through InvokeEndpoint:")
        for i, (label, predicted, p) in enumerate(report.predictions):
            mark = "ok" if label == predicted else f"(true: {CIFAR10_CLASSES[label]})"
            print(f"  {i:2d}  {CIFAR10_CLASSES[predicted]:<10} p={p:.2f}  {mark}")
        total = len(report.predictions)
        print(f"accuracy    {right}/{total} = {right / total:.2f} on these images")
    for note in report.notifications:
        print(f"SNS         {note['subject']}: {note['message']}")
    print(f"history     {report.state_transitions} state transitions, {report.history_events} history events")
    if report.lambda_log is not None and report.lambda_log.exists():
        lines = len(report.lambda_log.read_text().splitlines())
        print(f"lambda logs {report.lambda_log} ({lines} lines; also in the functions' emulated log groups)")
    print("\n== phase timings")
    for name, seconds in report.phases.items():
        print(f"  {name:<32} {seconds:6.1f} s")


def quiet_emulator_logs() -> None:
    # moto warns once per resource type it cannot model; the emulator prints them in one line.
    warnings.filterwarnings("ignore", message="Tried to parse")
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def main() -> int:
    started = time.perf_counter()
    quiet_emulator_logs()
    try:
        report = run_emulated_demo()
    except Exception:
        traceback.print_exc()
        print(
            "\nThe emulated platform could not run the demo (above). Falling back to local mode: the "
            "same spec and data through `dtrain local`, without the AWS emulator.",
            flush=True,
        )

        return run_local_demo()
    print_report(report)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
    return 0 if report.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
