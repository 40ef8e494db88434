"""Faults in storage and runs: corrupted cache or workspace files, kills, leftovers, modes.

Each case: what DVC misses, what `make verify` reports, nothing stray, outputs recoverable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.errors import DataError
from ranker.files import atomic_path
from tests.conftest import ROOT, dvc, git, ran, run, tool_env
from tests.test_faults_cli import flip_bytes

PAIRS = b"query,title,label\nq1,relevant title,1\nq1,other title,0\nq2,third,0\nq2,fourth,1\n"


# --- DVC cache and workspace corruption ------------------------------------------------


def test_verify_catches_what_dvc_checkout_does_not(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (model_out,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model"]
    listing = repo / ".dvc/cache/files/md5" / model_out["md5"][:2] / model_out["md5"][2:]
    (entry,) = [e for e in json.loads(listing.read_text()) if e["relpath"] == "model.safetensors"]
    cached = repo / ".dvc/cache/files/md5" / entry["md5"][:2] / entry["md5"][2:]
    good = cached.read_bytes()
    os.chmod(cached, 0o644)
    flip_bytes(cached)
    workspace = repo / "models/model/model.safetensors"
    workspace.unlink()

    # DVC 3.67 checks out the corrupt object without noticing.
    assert dvc("checkout", "dvc.yaml", cwd=repo).returncode == 0
    assert workspace.read_bytes() != good

    def verify() -> subprocess.CompletedProcess:
        return run(["make", "-s", "-f", str(ROOT / "Makefile"), "verify"], cwd=repo, check=False)

    proc = verify()
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [
        f"error: models/model/model.safetensors: workspace file has md5 "
        f"{_md5(workspace)}, dvc.lock expects {entry['md5']}",
        f"error: models/model/model.safetensors: cache object "
        f"{cached.relative_to(repo)} is corrupt (md5 {_md5(cached)}, expected {entry['md5']})",
    ]
    # The good object back in the cache: DVC's status is clean, the workspace is not.
    cached.write_bytes(good)
    assert json.loads(dvc("status", "--json", "dvc.yaml", cwd=repo).stdout) == {}
    proc = verify()
    assert proc.returncode != 0 and "workspace file has md5" in proc.stderr
    assert "cache object" not in proc.stderr
    # The remedy README gives: remove the file and check it out again.
    workspace.unlink()
    dvc("checkout", "dvc.yaml", cwd=repo)
    proc = verify()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("verified ")


def _md5(path: Path) -> str:
    from ranker.verify import md5_file

    return md5_file(path)


# --- kills and leftovers -----------------------------------------------------------------


def test_a_killed_writers_leftover_is_ignored_and_removed_next_time(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "onnx"
    leftover = dest.with_name(".onnx.tmp")
    leftover.mkdir(parents=True)
    (leftover / "model.onnx").write_bytes(b"half a model")
    git("init", "-q", cwd=tmp_path)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    assert git("check-ignore", "-q", "models/.onnx.tmp", cwd=tmp_path).returncode == 0
    with atomic_path(dest, is_dir=True) as tmp:
        assert not (tmp / "model.onnx").exists(), "the leftover was cleared"
        (tmp / "model.onnx").write_bytes(b"a model")
    assert not leftover.exists() and (dest / "model.onnx").read_bytes() == b"a model"
    assert oct(dest.stat().st_mode & 0o777) == "0o755"
    assert oct((dest / "model.onnx").stat().st_mode & 0o777) == "0o644"


def _start(repo: Path, *cmd: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *cmd],
        cwd=repo,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} before {path} appeared"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigterm_during_train_keeps_checkpoints_and_cleans_up(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    cmd = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    proc = _start(repo, *cmd.split()[2:])
    checkpoints = repo / "models" / ".model.checkpoints"
    # The fingerprint, not the folder: it is written just after the folder is made.
    _wait_for(checkpoints / "fingerprint.json", proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted (SIGTERM)")
    # Temporary files go; the epoch checkpoints stay, for the next run to resume from
    # (tests/test_resume.py), and nothing partial stands in for the model.
    assert not (repo / "models" / ".model.tmp").exists()
    assert (checkpoints / "fingerprint.json").is_file()
    assert (repo / "models" / "model" / "model.safetensors").is_file()  # the earlier one


def test_sigterm_inside_an_exec_still_exits_with_sigterms_status(tmp_path: Path) -> None:
    # dataclasses and namedtuple build methods with `exec`, so a SIGTERM often lands in one
    # while modules import; CPython 3.11 then ended the stage with SIGINT (CI saw -2).
    (tmp_path / "exec_stage.py").write_text(
        "import os, signal\n"
        "from ranker.stage import run_stage\n"
        "def main():\n"
        "    exec('os.kill(os.getpid(), signal.SIGTERM)\\nfor _ in range(10**6): pass')\n"
        "    raise AssertionError('not interrupted')\n"
        "run_stage(main)\n"
    )
    proc = _start(tmp_path, "exec_stage")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.splitlines() == [
        "error: interrupted (SIGTERM); temporary files removed; "
        "`make restore` brings back the last good outputs"
    ]


def test_sigkill_during_export_leaves_only_ignored_scratch_that_the_next_run_removes(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    before = (repo / "dvc.lock").read_text()
    cmd = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["export"]["cmd"]
    proc = _start(repo, *cmd.split()[2:])
    scratch = repo / "models" / ".onnx.tmp"
    _wait_for(scratch / "model.onnx", proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert scratch.exists()
    assert git("status", "--porcelain", "--", "models", cwd=repo).stdout == "", "ignored by git"
    # Nothing changed, so `dvc repro` runs no stage, and none removes the scratch...
    assert ran(dvc("repro", cwd=repo)) == set() and scratch.exists()
    # ...which `make run` and `make restore` sweep before anything else.
    swept = run([sys.executable, "-m", "ranker.scratch"], cwd=repo)
    assert swept.stdout.strip() == "scratch: removed models/.onnx.tmp (left by a killed run)"
    assert not scratch.exists()
    dvc("repro", "--force", "--single-item", "export", cwd=repo)
    assert (repo / "dvc.lock").read_text() == before, "the rerun rebuilt the same ONNX"


def test_the_scratch_sweep_leaves_a_running_dvc_alone(tmp_path: Path) -> None:
    import fcntl

    from ranker.scratch import sweep

    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  export:\n    cmd: x\n    outs:\n      - models/onnx\n"
        "    metrics:\n      - metrics/export.json:\n          cache: false\n"
    )
    leftovers = [
        tmp_path / "models/.onnx.tmp/model.onnx",
        tmp_path / "metrics/.export.json.tmp",
        tmp_path / "models/.onnx-part.download",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    keep = tmp_path / "models/.model.checkpoints/epoch-1"
    keep.parent.mkdir(parents=True)
    keep.write_text("resume from me")
    lock = tmp_path / ".dvc/tmp/lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    with open(lock) as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as DVC holds it while a command runs
        assert sweep(tmp_path) == []
        assert all(p.exists() for p in leftovers)
    removed = sweep(tmp_path)
    assert sorted(p.name for p in removed) == [
        ".export.json.tmp",
        ".onnx-part.download",
        ".onnx.tmp",
    ]
    assert not any(p.exists() for p in leftovers) and keep.exists()


def test_make_run_and_restore_sweep_scratch_first() -> None:
    lines = (ROOT / "Makefile").read_text().splitlines()
    for target in ("run", "restore"):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
        assert lines[start + 1] == "\tpython -m ranker.scratch", target


def test_outputs_have_normal_file_modes(pipeline_repo: Path) -> None:
    for folder in ("models/model", "models/onnx", "data/raw"):
        root = pipeline_repo / folder
        assert oct(root.stat().st_mode & 0o777) == "0o755", folder
        for path in root.iterdir():
            assert oct(path.stat().st_mode & 0o777) == "0o644", path


def test_bad_source_csv_fails_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"query,title,label\nq,t,1\n\xff\xfe,x,0\n")
    with pytest.raises(DataError, match=r"bad.csv: not UTF-8 text \(byte 0xff at line 3\)"):
        run_download(DataParams(source=str(bad)), tmp_path / "data/raw", tmp_path / "m.json")
    assert not list((tmp_path / "data").iterdir())


FULL_DISK = (
    "from ranker.stage import run_stage\n"
    "def main():\n"
    "    with open('/dev/full', 'wb') as fh:\n"
    "        fh.write(b'x' * (1 << 20))\n"
    "run_stage(main)\n"
)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this OS")
def test_a_full_disk_is_one_line() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does (once 18- and 35-line
    tracebacks)."""
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: No space left on device [ENOSPC]; free some space and run it again; "
        "`make restore` brings back the last good outputs"
    )


@pytest.mark.network
def test_make_push_to_an_unreachable_remote_fails_fast_in_one_line(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    """Port 1 refuses every connection. The run-cache push alone once took 246 s to over
    600 s and printed a never-awaited coroutine; the outputs' push goes first and fails in
    seconds, so the run-cache push never starts."""
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    dvc("remote", "modify", "--local", "s3", "endpointurl", "http://127.0.0.1:1", cwd=repo)
    env = tool_env(
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true"
    )
    proc = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "push", "REMOTE=s3"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "dvc push -r s3" in proc.stdout
    assert "--run-cache" not in proc.stdout, "the run-cache push must not start"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "http://127.0.0.1:1" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "coroutine" not in proc.stderr


def test_a_fresh_clone_after_the_pipeline_says_nothing_about_cross_validation(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    """Once cv/dvc.lock was committed: a clone listed 21 CV stages as not in cache, every
    `dvc metrics`/`dvc exp` command failed to load metrics, `make verify` exited 2 and
    `make push` named 40 missing files, all for folds trained elsewhere."""
    clone = tmp_path / "clone"
    git("clone", "-q", str(pipeline_repo), str(clone), cwd=tmp_path)
    shutil.copytree(pipeline_repo / ".dvc/cache", clone / ".dvc/cache")
    dvc("checkout", cwd=clone)
    # What `make run` does first on a fresh clone besides the environment: the plots page.
    venv = Path(sys.prefix)
    make = ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed"]
    run([*make, ".dvc/plots.html"], cwd=clone)
    assert json.loads(dvc("status", "--json", cwd=clone).stdout) == {}
    for command in (["metrics", "show"], ["exp", "show", "--no-pager"], ["plots", "show"]):
        proc = dvc(*command, cwd=clone)
        assert "failed" not in proc.stderr.lower() and "cv/" not in proc.stdout, command
    verified = run([*make, "verify"], cwd=clone)
    assert verified.stdout.startswith("verified ") and not verified.stderr
    pushed = run([*make, "push"], cwd=clone, HOME=str(tmp_path / "home"))
    assert "missing" not in (pushed.stdout + pushed.stderr).lower(), pushed.stderr
