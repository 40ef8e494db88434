"""Scratch a killed stage left behind, removed before `make run` and `make restore`.

Stages write through scratch siblings of their outputs (`.<name>.tmp`, `.<name>.download`,
`.<name>-<part>.download`, see `ranker.files`). SIGKILL runs no cleanup; the stage's next
run removes its own, but a stage that DVC restores from its run-cache never runs, so its
scratch would stay (the ONNX folder's is ~100 MB). Epoch checkpoints
(`.model.checkpoints`) are not scratch: training resumes from them.

    python -m ranker.scratch        # in the project root
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path

from ranker.files import TMP_SUFFIX, read_yaml, remove_path

# DVC's repository lock (zc.lockfile, an flock): held while any dvc command runs here.
DVC_LOCK = Path(".dvc") / "tmp" / "lock"


def output_paths(root: Path) -> list[Path]:
    """Every out, metric and plot path dvc.yaml declares (templated ones skipped)."""
    dvc_yaml = root / "dvc.yaml"
    doc = read_yaml(dvc_yaml) if dvc_yaml.is_file() else None
    stages = (doc or {}).get("stages") or {}
    paths = []
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                name = entry if isinstance(entry, str) else next(iter(entry))
                if "${" not in name:
                    paths.append(root / name)
    return paths


def scratch_of(out: Path) -> Iterator[Path]:
    yield out.with_name(f".{out.name}{TMP_SUFFIX}")
    yield out.with_name(f".{out.name}.download")
    if out.parent.is_dir():
        yield from sorted(out.parent.glob(f".{out.name}-*.download"))


@contextlib.contextmanager
def dvc_idle(root: Path) -> Iterator[bool]:
    """True while this process holds DVC's lock (no dvc command runs here), else False:
    a running stage's scratch is its work in progress, not a leftover."""
    lock = root / DVC_LOCK
    if not lock.is_file():
        yield True
        return
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def sweep(root: Path) -> list[Path]:
    """Remove the scratch of every output of dvc.yaml; return what was removed."""
    removed: list[Path] = []
    with dvc_idle(root) as idle:
        if not idle:
            print("scratch: a dvc command is running here; nothing removed", file=sys.stderr)
            return removed
        for out in output_paths(root):
            for path in scratch_of(out):
                if path.exists() or path.is_symlink():
                    remove_path(path)
                    removed.append(path)
    return removed


def main() -> int:
    removed = sweep(Path.cwd())
    for path in removed:
        print(f"scratch: removed {path.relative_to(Path.cwd())} (left by a killed run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
