"""Resume after a crash, on the tiny model: `kill -9` of the train stage once an epoch's
checkpoint is complete, then `dvc repro` resumes and ends with the uninterrupted run's model,
metrics and curves, byte for byte; with other params it starts fresh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ranker.model import checkpoints
from tests.conftest import ROOT, dvc, set_param, tool_env
from tests.test_model_stages import _train

EPOCHS = 6.0  # several epochs after the first checkpoint, so the kill lands mid-training
HOOK = Path(__file__).parent / "crash_hook"  # pauses each worker after the first checkpoint


def copy_repo(pipeline_repo: Path, dest: Path) -> Path:
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    set_param(dest, "train", "epochs", EPOCHS)
    return dest


def outputs(repo: Path) -> dict[str, bytes]:
    files = {"metrics/train.json": (repo / "metrics" / "train.json").read_bytes()}
    for folder in ("models/model", "dvclive"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(repo))] = path.read_bytes()
    return files


def stage_processes(repo: Path) -> list[int]:
    """The train stage's processes in `repo`: the shell dvc may run it in, the stage, and
    its workers."""
    found = subprocess.run(["pgrep", "-f", "stages.train --train"], capture_output=True, text=True)
    pids = []
    for pid in found.stdout.split():
        try:
            if Path(f"/proc/{pid}/cwd").resolve() == repo.resolve():
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def repro_killed_after_first_checkpoint(repo: Path) -> None:
    ckpts = repo / "models" / ".model.checkpoints"
    paused = repo.parent / f"{repo.name}.paused"
    paused.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "train"],
        cwd=repo,
        env=tool_env(PYTHONPATH=f"{HOOK}{os.pathsep}{ROOT}", RANKER_TEST_PAUSE_FILE=str(paused)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not paused.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        assert list(ckpts.glob("checkpoint-*/complete.json"))
        stage = int(paused.read_text(encoding="utf-8"))
        assert stage in stage_processes(repo)
        os.kill(stage, signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
        # No worker outlives the stage process (orphans would go on writing checkpoints).
        deadline = time.monotonic() + 30
        while left := stage_processes(repo):
            assert time.monotonic() < deadline, f"processes outlived the killed stage: {left}"
            time.sleep(0.1)
    finally:
        proc.kill()
    assert not (repo / "models" / "model").exists(), "training finished before the kill"
    assert list(ckpts.glob("checkpoint-*/complete.json"))


def repro(repo: Path) -> str:
    return dvc("repro", "train", cwd=repo, RANKER_LOG_LEVEL="INFO").stderr


def test_kill_9_then_repro_resumes_to_the_same_model(pipeline_repo: Path, tmp_path: Path) -> None:
    reference = copy_repo(pipeline_repo, tmp_path / "reference")
    assert "resuming" not in repro(reference)
    expected = outputs(reference)

    # A plain `dvc repro` after the crash: same params, data and code, so it resumes from
    # the last complete epoch and ends with the same bytes.
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    repro_killed_after_first_checkpoint(repo)
    log = repro(repo)
    assert "resuming from models/.model.checkpoints/checkpoint-" in log
    assert outputs(repo) == expected
    assert not (repo / "models" / ".model.checkpoints").exists()  # removed on success

    # Checkpoints of other params are never resumed from: the run starts fresh.
    set_param(repo, "train", "learning_rate", 5e-4)
    repro_killed_after_first_checkpoint(repo)
    set_param(repo, "train", "learning_rate", 2e-3)
    log = repro(repo)
    assert "from other inputs: starting fresh" in log and "resuming" not in log
    assert (repo / "models" / "model" / "model.safetensors").is_file()
    assert not (repo / "models" / ".model.checkpoints").exists()


def test_two_workers_resume_after_kill_9(pipeline_repo: Path, tmp_path: Path) -> None:
    """Data-parallel: both workers resume from the same complete epoch, every worker's RNG
    state included, and the job ends with one model and no checkpoints."""
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    set_param(repo, "distributed", "nproc_per_node", 2)
    set_param(repo, "run", "threads", 2)
    repro_killed_after_first_checkpoint(repo)
    ckpt = next((repo / "models" / ".model.checkpoints").glob("checkpoint-*/complete.json")).parent
    assert {p.name for p in ckpt.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    log = repro(repo)
    assert log.count("resuming from models/.model.checkpoints/checkpoint-") == 2  # each worker
    assert (repo / "models" / "model" / "model.safetensors").is_file()
    assert not (repo / "models" / ".model.checkpoints").exists()


def test_a_complete_checkpoint_exists_at_every_save(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment a crash is most likely to cost everything: a new checkpoint is on disk but
    not yet recorded complete. The previous complete one must still be there then (the
    Trainer's own rotation deleted it first, and a kill at that moment lost every epoch)."""
    complete_before_record: list[Path | None] = []
    real = checkpoints.mark_complete_callback()

    class Probe(type(real)):  # type: ignore[misc]
        def on_save(self, args, state, control, **kwargs):
            root = Path(args.output_dir)
            complete_before_record.append(checkpoints.latest_complete(root))
            super().on_save(args, state, control, **kwargs)
            assert len(list(root.glob("checkpoint-*"))) <= 2  # the newest and the best

    monkeypatch.setattr(checkpoints, "mark_complete_callback", Probe)
    monkeypatch.chdir(tmp_path)
    _train(tiny_model_dir, tmp_path, epochs=4.0)
    first, *later = complete_before_record
    assert first is None and len(later) == 3 and all(later), complete_before_record
