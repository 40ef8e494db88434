"""Data-parallel training through torchrun on the tiny model: 2 processes (gloo), 2 "nodes" x
1 process over a c10d rendezvous on 127.0.0.1, and a failing worker ending the job."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ranker.config import DistributedParams, parse_params
from ranker.errors import ParamError
from ranker.model import distributed
from tests.conftest import ROOT, dvc, set_param, tool_env

TRAIN_CMD = yaml.safe_load((Path(__file__).parents[1] / "dvc.yaml").read_text())["stages"]["train"][
    "cmd"
].split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_repo(pipeline_repo: Path, dest: Path) -> Path:
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


def train_metrics(repo: Path) -> dict:
    return json.loads((repo / "metrics" / "train.json").read_text())


def model_dirs(repo: Path) -> list[str]:
    """The train stage's model directory and anything it left beside it (checkpoints, temps)."""
    return sorted(p.name for p in (repo / "models").iterdir() if "model" in p.name)


def stage_cmd() -> list[str]:
    return [sys.executable, *TRAIN_CMD[1:]]


def test_torchrun_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PET_RDZV_ENDPOINT", "PET_RDZV_ID", "PET_NNODES", "PET_NPROC_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    one = distributed.torchrun_argv(
        DistributedParams(nproc_per_node=2), module="stages.train", args=["--x", "1"]
    )
    assert one[one.index("--nproc-per-node") + 1] == "2"
    assert one[one.index("--rdzv-endpoint") + 1] == "127.0.0.1:0"  # a free port
    assert one[-4:] == ["--module", "stages.train", "--x", "1"]
    params = DistributedParams(nnodes=2)
    two = distributed.torchrun_argv(params, module="m", args=[])
    assert two[two.index("--rdzv-endpoint") + 1] == "127.0.0.1:29400"  # the default
    assert two[two.index("--rdzv-id") + 1] == "ranker-train"
    # torchrun's own environment names pick the machine; they cannot change the counts.
    monkeypatch.setenv("PET_RDZV_ID", "job")
    monkeypatch.setenv("PET_RDZV_ENDPOINT", "node0:1234")
    two = distributed.torchrun_argv(params, module="m", args=[])
    assert two[two.index("--rdzv-endpoint") + 1] == "node0:1234"
    assert two[two.index("--nnodes") + 1] == "2" and two[two.index("--rdzv-id") + 1] == "job"
    monkeypatch.setenv("PET_NNODES", "3")
    with pytest.raises(ParamError, match=r"PET_NNODES=3 disagrees with distributed\.nnodes: 2"):
        distributed.torchrun_argv(params, module="m", args=[])


def test_worker_share_of_threads_and_batch() -> None:
    assert distributed.worker_threads(2, 2) == 1
    assert distributed.worker_threads(1, 2) == 1
    assert distributed.worker_threads(8, 2) == 4
    assert distributed.per_worker_batch(16, 2) == 8
    with pytest.raises(ParamError, match="global batch"):
        parse_params({"train": {"batch_size": 15}, "distributed": {"nproc_per_node": 2}})


def test_two_processes_train_one_model(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    single = train_metrics(repo)
    set_param(repo, "distributed", "nproc_per_node", 2)
    set_param(repo, "run", "threads", 2)  # one thread per worker
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dvc("repro", "train", cwd=repo, TMPDIR=str(scratch))
    # torchrun's agent once left a /tmp/torchelastic_* log folder behind per run.
    assert not [p.name for p in scratch.iterdir() if "torchelastic" in p.name]
    two = train_metrics(repo)
    assert model_dirs(repo) == ["model"]  # written once; no checkpoints left behind
    assert (repo / "models" / "model" / "model.safetensors").is_file()
    # The same global batch and steps: the same epochs, a loss of the same size.
    assert two["trainable_params"] == single["trainable_params"]
    assert two["train_loss"] == pytest.approx(single["train_loss"], rel=0.1)
    assert two["best_ndcg@10"] == pytest.approx(single["best_ndcg@10"], abs=0.15)
    # dvclive was written by one process: one loss row per logging step, no duplicates.
    steps = (repo / "dvclive" / "plots" / "metrics" / "loss.tsv").read_text().splitlines()[1:]
    logged = [int(r.split("\t")[0]) for r in steps]
    assert logged == sorted(set(logged)) and len(logged) > 2, logged


def test_two_nodes_over_c10d_on_localhost(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    single = train_metrics(repo)
    set_param(repo, "distributed", "nnodes", 2)
    env = tool_env(PET_RDZV_ENDPOINT=f"127.0.0.1:{free_port()}", PET_RDZV_ID=f"test-{os.getpid()}")
    # Node 1 joins with the documented `make join`; node 0 runs the stage through DVC.
    node1 = subprocess.Popen(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "join"],
        cwd=repo,
        env={**env, "PET_NODE_RANK": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        node0 = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "train"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        _, err1 = node1.communicate(timeout=120)
    finally:
        node1.kill()
    assert node0.returncode == 0, node0.stderr[-3000:]
    assert node1.returncode == 0, err1[-3000:]
    assert model_dirs(repo) == ["model"]
    two = train_metrics(repo)
    assert two["train_loss"] == pytest.approx(single["train_loss"], rel=0.1)
    assert two["best_ndcg@10"] == pytest.approx(single["best_ndcg@10"], abs=0.15)


def test_two_machines_claiming_node_zero_fail_clearly(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    set_param(repo, "distributed", "nnodes", 2)
    env = tool_env(PET_RDZV_ENDPOINT=f"127.0.0.1:{free_port()}", PET_RDZV_ID=f"dup-{os.getpid()}")
    procs = [
        subprocess.Popen(stage_cmd(), cwd=repo, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode != 0 for p in procs)
    assert any("node ranks [0, 0]" in err for err in errs), errs[0][-2000:]
    assert not (repo / "models" / "model").exists() or model_dirs(repo) == ["model"]


def test_a_failing_worker_ends_the_job_with_one_error(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    set_param(repo, "distributed", "nproc_per_node", 2)
    set_param(repo, "train", "epochs", 50.0)  # long enough to be killed mid-training
    before = (repo / "models" / "model" / "model.safetensors").read_bytes()
    agent = subprocess.Popen(
        stage_cmd(), cwd=repo, env=tool_env(), stderr=subprocess.PIPE, text=True
    )
    marker = repo / "models" / ".model.checkpoints" / "fingerprint.json"
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and agent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the workers never started training"
        workers = subprocess.run(
            ["pgrep", "-P", str(agent.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == 2, workers
        os.kill(int(workers[1]), signal.SIGKILL)
        # The other worker is stopped, not left waiting in a collective: a hang would
        # end at this guard, minutes away from the seconds torchrun takes.
        _, err = agent.communicate(timeout=120)
    finally:
        agent.kill()
    assert agent.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: train: worker rank ") and "(signal SIGKILL)" in last, last
    # The earlier good model is untouched: nobody wrote a partial one over it.
    assert (repo / "models" / "model" / "model.safetensors").read_bytes() == before
    left = subprocess.run(["pgrep", "-f", str(repo)], capture_output=True, text=True).stdout
    assert not left.strip(), "a worker outlived the job"


@contextlib.contextmanager
def silent_listener() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        server.close()
        for conn in accepted:
            conn.close()


LAUNCH = (
    "from ranker.config import DistributedParams; from ranker.stage import run_stage; "
    "from ranker.model.distributed import launch; "
    "run_stage(lambda: launch(DistributedParams(nnodes=2), module='stages.train', args=[]))"
)


def test_a_rendezvous_endpoint_that_never_answers_fails_in_one_line() -> None:
    with silent_listener() as (endpoint, _):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCH],
            env=tool_env(PET_RDZV_ENDPOINT=endpoint, RANKER_RDZV_ANSWER_TIMEOUT_S="2"),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: train: something listens at the rendezvous endpoint {endpoint} but did not "
        "answer as a c10d store within 2 s (RANKER_RDZV_ANSWER_TIMEOUT_S); is "
        "PET_RDZV_ENDPOINT node 0's address and a free port?"
    )
    assert time.monotonic() - started < 60


def test_sigterm_ends_a_wait_on_a_rendezvous_endpoint_that_never_answers() -> None:
    """It once blocked in torchrun's C++ join for 16 minutes, deaf to SIGTERM."""
    with silent_listener() as (endpoint, accepted):
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH],
            env=tool_env(PET_RDZV_ENDPOINT=endpoint, RANKER_RDZV_ANSWER_TIMEOUT_S="600"),
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while len(accepted) < 2 and time.monotonic() < deadline:  # probe, then the store
                time.sleep(0.1)
            assert len(accepted) >= 2, "the stage never reached the endpoint"
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("error: interrupted (SIGTERM)")
