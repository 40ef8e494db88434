"""Training on CUDA: the train stage on the GPU with autocast from params, and data-parallel
over NCCL. Every test skips cleanly without a CUDA device."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import dvc, set_param

pytestmark = pytest.mark.gpu


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.fixture
def gpu_repo(pipeline_repo: Path, tmp_path: Path) -> Path:
    if cuda_devices() == 0:
        pytest.skip("no CUDA device here")
    return Path(shutil.copytree(pipeline_repo, tmp_path / "repo", symlinks=True))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_train_stage_runs_on_the_gpu(gpu_repo: Path, precision: str) -> None:
    set_param(gpu_repo, "train", "precision", precision)
    log = dvc("repro", "train", cwd=gpu_repo, RANKER_LOG_LEVEL="INFO").stderr
    assert "device cuda" in log, log[-2000:]
    metrics = json.loads((gpu_repo / "metrics" / "train.json").read_text())
    assert metrics["train_loss"] == metrics["train_loss"]  # a number, not NaN
    assert (gpu_repo / "models" / "model" / "model.safetensors").is_file()


def test_two_gpus_train_over_nccl(gpu_repo: Path) -> None:
    if cuda_devices() < 2:
        pytest.skip("NCCL data parallelism needs two CUDA devices")
    set_param(gpu_repo, "distributed", "nproc_per_node", 2)
    log = dvc("repro", "train", cwd=gpu_repo, RANKER_LOG_LEVEL="INFO").stderr
    assert "worker 1/2" in log and "device cuda:1" in log, log[-2000:]
    assert (gpu_repo / "models" / "model" / "model.safetensors").is_file()
