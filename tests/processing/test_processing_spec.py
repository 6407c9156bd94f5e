"""The `processing` block, `experiment_config` and processing-output channels (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from dtrain.jobspec.errors import RequestValidationError, SpecError, SpecErrors, as_error_list
from dtrain.jobspec.platform import PlatformSettings
from dtrain.jobspec.spec import parse_spec
from dtrain.jobspec.validate_request import validate_create_processing_job
from dtrain.requests.processing_request import build_processing_job_request, processing_output_uris
from dtrain.requests.training_request import build_training_job_request

ROLE = "arn:aws:iam::123456789012:role/train-role"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:1.0"
PLATFORM = PlatformSettings.from_dict(
    {
        "region": "us-east-1",
        "role_arn": ROLE,
        "output_s3_uri": "s3://platform-artifacts/jobs",
        "checkpoint_s3_uri": "s3://platform-checkpoints/ckpt",
        "jobs_in_vpc": False,
    }
)


def _spec(processing: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "framework": "pytorch",
        "estimator": {
            "entry_point": "train.py",
            "source_dir": "s3://my-code/sourcedir.tar.gz",
            "image_uri": IMAGE,
            "role": ROLE,
            "output_path": "s3://my-output/jobs",
            "instance_type": "ml.g5.xlarge",
            "instance_count": 1,
        },
        **top,
    }
    if processing is not None:
        doc["processing"] = processing
    return doc


def _processing(**run: Any) -> dict[str, Any]:
    return {
        "processor": {
            "image_uri": IMAGE,
            "command": ["python3"],
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
        },
        "run": {
            "code": "s3://my-code/preprocess.py",
            "outputs": [{"source": "/opt/ml/processing/output/train", "output_name": "train"}],
            **run,
        },
    }


def _fields(exc: SpecError | SpecErrors) -> dict[str, str]:
    return {e.field: e.rule for e in as_error_list(exc)}


def test_every_problem_of_the_processing_block_in_one_pass() -> None:
    bad = {
        "processor": {
            "image_uri": IMAGE,
            "comand": ["python3"],
            "instance_type": "ml.m5.xlarge",
            "instance_count": 0,
        },
        "run": {
            "code": "s3://c/p.py",
            "source_dir": "src",
            "inputs": [{"source": "/local/raw", "destination": "/tmp/raw"}],
            "outputs": [{"source": "/opt/ml/processing/output/x", "s3_upload_mode": "endofjob"}],
            "arguments": [],
        },
    }
    with pytest.raises(SpecErrors) as caught:
        parse_spec(_spec(bad))
    fields = _fields(caught.value)
    assert "did you mean 'command'?" in fields["processing.processor.comand"]
    assert fields["processing.processor.command"] == "required"
    assert "from 1 to" in fields["processing.processor.instance_count"]
    assert "FrameworkProcessor" in fields["processing.run.source_dir"]
    assert "s3://" in fields["processing.run.inputs[0].source"]
    assert "/opt/ml/processing/" in fields["processing.run.inputs[0].destination"]
    assert "did you mean 'EndOfJob'?" in fields["processing.run.outputs[0].s3_upload_mode"]
    assert "1 to 256" in fields["processing.run.arguments"]  # the SDK would send [] and fail


def test_experiment_config_keys_and_names_are_checked() -> None:
    with pytest.raises(SpecErrors) as caught:
        parse_spec(_spec(experiment_config={"ExperimentNam": "x", "RunName": "bad_name!"}))
    fields = _fields(caught.value)
    assert "did you mean 'ExperimentName'?" in fields["experiment_config.ExperimentNam"]
    assert "^[a-zA-Z0-9]" in fields["experiment_config.RunName"]


def test_experiment_config_reaches_the_training_request_and_empty_sends_none() -> None:
    config = {"ExperimentName": "cifar10", "RunName": "run-1"}
    request = build_training_job_request(
        parse_spec(_spec(experiment_config=config)), None, region="us-east-1"
    )
    assert request["ExperimentConfig"] == config
    empty = build_training_job_request(parse_spec(_spec(experiment_config={})), None, region="us-east-1")
    assert "ExperimentConfig" not in empty  # SDK 2.220 sends it only when non-empty


def test_a_training_channel_gets_the_processing_outputs_uri_in_spec_order() -> None:
    doc = _spec(
        _processing(job_name="prep-1"),
        inputs={"val": "s3://my-data/val", "train": {"processing_output": "train"}},
    )
    spec = parse_spec(doc)
    request = build_training_job_request(spec, PLATFORM, job_name="train-1")
    channels = [
        (c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in request["InputDataConfig"]
    ]
    # Under the platform's output prefix, as the SDK with default_bucket_prefix "jobs".
    uri = "s3://platform-artifacts/jobs/dtrain-prep-1/output/train"
    assert channels == [("val", "s3://my-data/val"), ("train", uri)]
    assert processing_output_uris(spec, PLATFORM) == {"train": uri}
    assert (
        build_processing_job_request(spec, PLATFORM)["ProcessingOutputConfig"]["Outputs"][0]["S3Output"][
            "S3Uri"
        ]
        == uri
    )


def test_a_channel_naming_an_unknown_output_or_no_processing_block_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(_processing(), inputs={"train": {"processing_output": "trian"}}))
    assert "did you mean 'train'?" in caught.value.rule
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(inputs={"train": {"processing_output": "train"}}))
    assert caught.value.field == "inputs.train.processing_output"


def test_without_platform_a_default_destination_or_local_code_is_an_error_naming_it() -> None:
    spec = parse_spec(_spec(_processing(code="preprocess.py")))
    with pytest.raises(SpecErrors) as caught:
        build_processing_job_request(spec, None)
    fields = _fields(caught.value)
    assert set(fields) == {
        "processing.processor.role",
        "processing.run.code",
        "processing.run.outputs[0].destination",
    }


def test_the_processing_request_passes_the_strict_model_check_and_a_bad_one_does_not() -> None:
    spec = parse_spec(_spec(_processing(arguments=["--n", "1"])))
    request = build_processing_job_request(spec, PLATFORM)
    assert request["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/preprocess.py",
    ]
    bad = {
        **request,
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 0}},
    }
    with pytest.raises(RequestValidationError) as caught:
        validate_create_processing_job(bad)
    text = str(caught.value)
    assert "VolumeSizeInGB" in text and "InstanceCount" in text


def test_a_processing_instance_type_typo_is_refused_with_a_suggestion() -> None:
    doc = _processing()
    doc["processor"]["instance_type"] = "ml.m5.xlarg"
    with pytest.raises(SpecError) as caught:
        build_processing_job_request(parse_spec(_spec(doc)), PLATFORM)
    assert "did you mean 'ml.m5.xlarge'?" in caught.value.rule


def test_the_json_schema_takes_a_processing_spec_and_refuses_a_typo() -> None:
    import jsonschema

    from dtrain.jobspec.schema import job_spec_schema

    schema = job_spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    doc = _spec(
        _processing(inputs=[{"source": "s3://d/raw", "destination": "/opt/ml/processing/input/raw"}]),
        inputs={"train": {"processing_output": "train"}},
        experiment_config={"ExperimentName": "cifar10"},
    )
    parse_spec(doc)
    assert [e.message for e in validator.iter_errors(doc)] == []
    doc["processing"]["run"]["outputz"] = []
    assert not validator.is_valid(doc)


def test_submit_checks_the_processing_request_as_prepare_builds_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dtrain.remote.spec_check import SpecRejected, check_against_platform

    doc = _spec(_processing(), inputs={"train": {"processing_output": "train"}})
    check_against_platform(doc, None, "job-1")  # an S3 script: the platform runs it
    local = _spec(_processing(code="preprocess.py"), inputs={"train": {"processing_output": "train"}})
    with pytest.raises(SpecRejected):  # what submit did not upload, the platform cannot read
        check_against_platform(local, None, "job-1")
    assert "processing.run.code" in capsys.readouterr().err
