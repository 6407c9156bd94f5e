"""The SageMaker contract as the training scripts read it (common.sagemaker_env, common.launcher_env)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from common.launcher_env import DEFAULT_MASTER_PORT, detect_rank_info
from common.sagemaker_env import ContractError, Hyperparameters, SageMakerEnv


def test_base_dir_moves_every_default_path(tmp_path: Path) -> None:
    sm = SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert sm.model_dir == tmp_path / "model"
    assert sm.output_data_dir == tmp_path / "output" / "data"
    assert sm.checkpoint_dir == tmp_path / "checkpoints"
    assert sm.failure_file == tmp_path / "output" / "failure"


def test_sm_variables_win_over_the_config_files(tmp_path: Path) -> None:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]})
    )
    (config / "hyperparameters.json").write_text(json.dumps({"epochs": "7", "lr": "0.5", "compile": "true"}))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {}, "test": {}}))
    from_files = SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)})
    assert from_files.hosts == ("algo-1", "algo-2") and from_files.current_host == "algo-2"
    assert not from_files.is_master_host
    # hyperparameters.json holds strings; they are decoded as the toolkit decodes them
    assert from_files.hyperparameters.get_int("epochs", 1) == 7
    assert from_files.hyperparameters.get_bool("compile", False) is True
    assert from_files.channel("test") == tmp_path / "input" / "data" / "test"

    from_env = SageMakerEnv.from_environ(
        {
            "SAGEMAKER_BASE_DIR": str(tmp_path),
            "SM_HOSTS": '["algo-1"]',
            "SM_CURRENT_HOST": "algo-1",
            "SM_HPS": '{"epochs": 3}',
            "SM_CHANNEL_TRAIN": "/data/train",
            "SM_MODEL_DIR": "/elsewhere/model",
            "SM_NUM_GPUS": "8",
        }
    )
    assert from_env.hosts == ("algo-1",) and from_env.is_master_host
    assert from_env.hyperparameters.get_int("epochs", 1) == 3
    assert from_env.channel("train") == Path("/data/train")
    assert from_env.model_dir == Path("/elsewhere/model")
    assert from_env.num_gpus == 8


def test_checkpoint_dir_follows_the_hyperparameter_then_the_variable_then_checkpointconfig(
    tmp_path: Path,
) -> None:
    base = {"SAGEMAKER_BASE_DIR": str(tmp_path)}
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "checkpointconfig.json").write_text(
        json.dumps({"LocalPath": "/opt/ml/checkpoints/run", "S3Uri": "s3://b/c"})
    )
    # SageMaker's container path, moved under the base dir like the rest of /opt/ml
    assert SageMakerEnv.from_environ(base).checkpoint_dir == tmp_path / "checkpoints" / "run"
    (config / "checkpointconfig.json").write_text(json.dumps({"LocalPath": "/mnt/ckpt"}))
    assert SageMakerEnv.from_environ(base).checkpoint_dir == Path("/mnt/ckpt")
    assert SageMakerEnv.from_environ({**base, "DTRAIN_CHECKPOINT_DIR": "/ckpt"}).checkpoint_dir == Path(
        "/ckpt"
    )
    with_hp = {**base, "DTRAIN_CHECKPOINT_DIR": "/ckpt", "SM_HPS": '{"checkpoint_dir": "/hp"}'}
    assert SageMakerEnv.from_environ(with_hp).checkpoint_dir == Path("/hp")


def test_bad_values_name_the_variable_or_hyperparameter(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="SM_HOSTS"):
        SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path), "SM_HOSTS": "algo-1"})
    with pytest.raises(ContractError, match=r"hyperparameters\.epochs.*integer"):
        Hyperparameters({"epochs": "2.5"}).get_int("epochs", 1)
    with pytest.raises(ContractError, match=r"hyperparameters\.compile.*true or false"):
        Hyperparameters({"compile": "maybe"}).get_bool("compile", False)
    with pytest.raises(ContractError, match=r"channel train.*required"):
        SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path)}).require_channel("train")


def test_launcher_is_recognised_from_its_environment(tmp_path: Path) -> None:
    sm = SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path), "SM_HOSTS": '["algo-1", "algo-2"]'})
    torchrun = detect_rank_info(
        sm,
        {
            "RANK": "3",
            "WORLD_SIZE": "4",
            "LOCAL_RANK": "1",
            "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "algo-1",
            "MASTER_PORT": "7777",
        },
    )
    assert (torchrun.launcher, torchrun.rank, torchrun.local_rank, torchrun.master_port) == (
        "torchrun",
        3,
        1,
        7777,
    )

    ompi = {
        "OMPI_COMM_WORLD_RANK": "2",
        "OMPI_COMM_WORLD_SIZE": "4",
        "OMPI_COMM_WORLD_LOCAL_RANK": "0",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
    }
    mpi = detect_rank_info(sm, ompi)
    # no MASTER_ADDR: the first SageMaker host, which SageMaker's DNS resolves
    assert (mpi.launcher, mpi.rank, mpi.world_size, mpi.master_addr, mpi.master_port) == (
        "mpirun",
        2,
        4,
        "algo-1",
        DEFAULT_MASTER_PORT,
    )
    assert detect_rank_info(sm, {**ompi, "SM_MASTER_ADDR": "10.0.0.5"}).master_addr == "algo-1"
    sm_master = SageMakerEnv.from_environ({"SAGEMAKER_BASE_DIR": str(tmp_path), "SM_MASTER_ADDR": "10.0.0.5"})
    assert detect_rank_info(sm_master, ompi).master_addr == "10.0.0.5"
    assert detect_rank_info(sm, {**ompi, "MASTER_ADDR": "127.0.0.1"}).master_addr == "127.0.0.1"

    single = detect_rank_info(sm, {})
    assert (single.launcher, single.rank, single.world_size) == ("single", 0, 1)


def test_command_line_hyperparameters_override_sm_hps() -> None:
    from common.hyperparameter_args import merge_cli_hyperparameters

    base = Hyperparameters({"epochs": 3, "lr": 0.1})
    merged = merge_cli_hyperparameters(base, ["--epochs", "5", "--deterministic=true", "--batch-size", "64"])
    assert merged.get_int("epochs", 1) == 5
    assert merged.get_float("lr", 0.0) == 0.1
    assert merged.get_bool("deterministic", False) is True
    assert merged.get_int("batch_size", 1) == 64
    with pytest.raises(ContractError, match="--epochs"):
        merge_cli_hyperparameters(base, ["--epochs"])
