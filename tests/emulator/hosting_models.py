"""A model.tar.gz following SageMaker's inference contract, for the hosting tests.

Its code/inference.py (model_fn / input_fn / predict_fn / output_fn) reads JSON lines
`{"x": n}` (or CSV lines `n`, or RecordIO records of one JSON object each) and answers
`{"y": n * scale}` (CSV: `y`) per line; a record "boom" makes predict_fn raise,
and `delay` slows every request down (to stop a transform job in the middle).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from dtrain.local.config import training_code_dir

INFERENCE = """
import json, os, struct, time

def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as f:
        return json.load(f)

def input_fn(body, content_type):
    if content_type == "application/x-recordio":  # RecordIO frames, one JSON object each
        records, offset = [], 0
        while offset < len(body):
            magic, header = struct.unpack_from("<II", body, offset)
            assert magic == 0xCED7230A, "not RecordIO"
            length = header & ((1 << 29) - 1)
            records.append(json.loads(bytes(body[offset + 8 : offset + 8 + length])))
            offset += 8 + ((length + 3) & ~3)
        return records
    if content_type == "text/csv":  # one number per line
        return [{"x": float(line.split(",")[0])} for line in body.splitlines() if line.strip()]
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return [json.loads(line) for line in body.splitlines() if line.strip()]

def predict_fn(records, model):
    time.sleep(model.get("delay", 0))
    if any(r == "boom" for r in records):
        raise RuntimeError("boom requested")
    return [{"y": r["x"] * model["scale"]} for r in records]

def output_fn(predictions, accept):
    if accept == "text/csv":
        return "\\n".join(str(p["y"]) for p in predictions), "text/csv"
    return "\\n".join(json.dumps(p) for p in predictions), "application/json"
"""


def model_archive(scale: float, delay: float = 0.0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {
            "weights.json": json.dumps({"scale": scale, "delay": delay}),
            "code/inference.py": INFERENCE,
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def directory_archive(model: Path) -> bytes:
    """model.tar.gz of a model folder, its files at the archive's root, as the trainers pack it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(model.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model)), recursive=False)
    return buf.getvalue()


def cifar_model_archive(directory: Path) -> bytes:
    """model.tar.gz of the bundled PyTorch trainers' network (width 4, its initial weights) with
    their code/inference.py, as the trainers pack it (common.cifar_model.save_model,
    common.model_code.package_inference_code)."""
    import sys

    if str(training_code_dir()) not in sys.path:
        sys.path.insert(0, str(training_code_dir()))
    from common.cifar_model import CifarNet, ModelConfig, save_model
    from common.model_code import package_inference_code

    model = directory / "cifar-model"
    config = ModelConfig(width=4)
    save_model(CifarNet(config), config, model)
    package_inference_code(model)
    return directory_archive(model)
