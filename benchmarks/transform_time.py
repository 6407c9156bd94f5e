"""Batch transform of the sample CIFAR-10 test set through the emulated platform.

An execution trains (played: the job's model.tar.gz is the CIFAR model the bundled trainer
packages, code/inference.py included, with fresh weights unless --model names a trained
archive) and then transforms the test set with a `transform` block, through the real state
machine, Lambdas and IAM; the emulator runs the transform job (dtrain.emulator.hosting: the
model server of dtrain.serving, one worker). Two input layouts of the same images, as
application/x-npy objects (SplitType None: one object, one request):

- one image per object (one request per image),
- 64 images per object (one request per 64-image batch).

Printed per layout: the transform job's wall time (TransformStartTime -> TransformEndTime, the
model server's start included), the steady part after the server answered /ping, images per
second over each, and the execution's wall time from start to SUCCEEDED. With a trained model,
the accuracy of the `.out` predictions against the test labels.

Run: .venv/bin/python benchmarks/transform_time.py [--model PATH/model.tar.gz] [--images 512]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtrain.emulator import Emulator  # noqa: E402
from dtrain.emulator.apps import STANDIN_DATA_BUCKET, synth_standin_app  # noqa: E402

BATCH = 64


def fresh_model_archive(workdir: Path) -> bytes:
    """The trainer's own model + inference code (training_code/common), untrained weights."""
    sys.path.insert(0, str(ROOT / "training_code" / "common"))
    from cifar_model import CifarNet, ModelConfig, save_model
    from model_code import package_inference_code

    model_dir = workdir / "model"
    model_dir.mkdir()
    config = ModelConfig(width=16)
    save_model(CifarNet(config), config, model_dir)
    package_inference_code(model_dir)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(model_dir).as_posix())
    return buf.getvalue()


def test_set(count: int) -> tuple[Any, list[int]]:
    from dtrain.demo.emulated import test_images
    from dtrain.demo.local_demo import DEMO_DATA, ensure_sample_data

    data = ROOT / DEMO_DATA
    ensure_sample_data(data)
    return test_images(data, count)


def npy(array: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def run_layout(emu: Emulator, archive: bytes, prefix: str, per_object: int, images: Any) -> dict[str, Any]:
    s3 = emu.client("s3")
    for start in range(0, len(images), per_object):
        key = f"{prefix}/{start:05d}.npy"
        s3.put_object(Bucket=STANDIN_DATA_BUCKET, Key=key, Body=npy(images[start : start + per_object]))
    spec = {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train_ddp.py",
            "image_uri": "ddp",
            "instance_type": "ml.g5.xlarge",
            "instance_count": 1,
            "max_run": 3600,
        },
        "inputs": {"train": f"s3://{STANDIN_DATA_BUCKET}/train"},
        "transform": {
            "framework_version": "2.2",
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
            "data": f"s3://{STANDIN_DATA_BUCKET}/{prefix}/",
            "content_type": "application/x-npy",
            "accept": "application/json",
            "strategy": "SingleRecord",
        },
    }
    started = time.perf_counter()
    arn = emu.start_execution(spec)
    (job,) = emu.jobs_of(arn)
    output = emu.client("sagemaker").describe_training_job(TrainingJobName=job)["OutputDataConfig"]
    bucket, _, key_prefix = str(output["S3OutputPath"]).removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{key_prefix}/{job}/output/model.tar.gz", Body=archive)
    emu.sagemaker.complete(job)
    desc = emu.wait_execution(arn, timeout=1800)
    execution_s = time.perf_counter() - started
    if desc["status"] != "SUCCEEDED":
        raise SystemExit(f"{prefix}: execution {desc['status']}: {desc.get('cause')}")
    transform = json.loads(desc["output"])["transform"]
    name = transform["transform_job_name"]
    described = emu.client("sagemaker").describe_transform_job(TransformJobName=name)
    wall = (described["TransformEndTime"] - described["TransformStartTime"]).total_seconds()
    run = emu.hosting.transforms[name]
    steady = (run.finished_at or 0.0) - (run.served_at or 0.0)
    out_bucket, _, out_prefix = str(transform["output_path"]).removeprefix("s3://").partition("/")
    predictions: list[int] = []
    for start in range(0, len(images), per_object):
        body = s3.get_object(Bucket=out_bucket, Key=f"{out_prefix}/{start:05d}.npy.out")["Body"].read()
        predictions.extend(max(range(len(row)), key=row.__getitem__) for row in json.loads(body))
    return {
        "requests": run.objects,
        "images": len(predictions),
        "transform_wall_s": round(wall, 2),
        "after_server_ready_s": round(steady, 2),
        "images_per_s": round(len(predictions) / wall, 1),
        "images_per_s_after_server_ready": round(len(predictions) / steady, 1) if steady > 0 else None,
        "execution_wall_s": round(execution_s, 1),
        "predictions": predictions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained model.tar.gz (default: fresh weights)")
    parser.add_argument("--images", type=int, default=512, help="test images to transform (default 512)")
    args = parser.parse_args()
    images, labels = test_set(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        archive = args.model.read_bytes() if args.model else fresh_model_archive(Path(tmp))
        assembly = synth_standin_app(Path(tmp) / "cdk.out")
        with Emulator(assembly, announce=False) as emu:
            report: dict[str, Any] = {"images": len(labels), "trained_model": bool(args.model)}
            for name, per_object in (("one_image_per_request", 1), (f"{BATCH}_images_per_request", BATCH)):
                result = run_layout(emu, archive, f"transform-bench/{name}", per_object, images)
                predicted = result.pop("predictions")
                if args.model:
                    right = sum(p == t for p, t in zip(predicted, labels, strict=True))
                    result["accuracy"] = round(right / len(labels), 3)
                report[name] = result
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
