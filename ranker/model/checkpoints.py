"""Epoch checkpoints that survive a crash, and resuming from them.

The Trainer writes a full checkpoint (weights, optimizer, scheduler, RNG states and its own
state) at the end of every epoch into a directory beside the model, outside the stage's
outs, so `dvc repro` does not delete it. The next run resumes from the newest *complete*
checkpoint (every file there with the checksum recorded once the Trainer had finished
writing it) when its fingerprint (params, input bytes, code, library versions) is this
run's; otherwise it starts fresh. The directory is removed once the stage succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from hashlib import sha256
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ranker.files import sha256_file, write_json
from ranker.model.distributed import World, all_equal, barrier

log = logging.getLogger(__name__)

FINGERPRINT = "fingerprint.json"
COMPLETE = "complete.json"
_STEP = re.compile(r"checkpoint-(\d+)$")


def checkpoint_dir(out_dir: Path, node_rank: int = 0) -> Path:
    """Beside `out_dir`, ignored by git and DVC; one per machine of a multi-node job.

    A fixed path (not a random temp dir): the Trainer records it, so every run records the
    same string, and the next run finds what a killed one left.
    """
    node = "" if node_rank == 0 else f".node{node_rank}"
    return out_dir.parent / f".{out_dir.name}{node}.checkpoints"


def fingerprint(*, params: dict[str, Any], files: Iterable[Path]) -> str:
    """What a checkpoint was trained from: the params, the bytes of the input files, the
    ranker package's code and the training libraries' versions."""
    digest = sha256(json.dumps(params, sort_keys=True).encode())
    for lib in ("torch", "transformers", "accelerate"):
        digest.update(f"{lib}=={version(lib)}\n".encode())
    for path in files:
        digest.update(f"{Path(path).name}:{sha256_file(path)}\n".encode())
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(f"{source.relative_to(package)}:{sha256_file(source)}\n".encode())
    return digest.hexdigest()


def _manifest(ckpt: Path) -> dict[str, str]:
    return {
        p.relative_to(ckpt).as_posix(): sha256_file(p)
        for p in sorted(ckpt.rglob("*"))
        if p.is_file() and p.name != COMPLETE
    }


def is_complete(ckpt: Path) -> bool:
    try:
        recorded = json.loads((ckpt / COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == _manifest(ckpt)


def latest_complete(root: Path) -> Path | None:
    steps = sorted(
        ((int(m.group(1)), p) for p in root.glob("checkpoint-*") if (m := _STEP.search(p.name))),
        reverse=True,
    )
    for _step, ckpt in steps:
        if is_complete(ckpt):
            return ckpt
        log.warning("ignoring %s: cut off before it was complete", ckpt)
    return None


def _resumable(root: Path, fp: str | None) -> Path | None:
    if fp is None:
        return None
    try:
        if json.loads((root / FINGERPRINT).read_text(encoding="utf-8")) != fp:
            log.info("checkpoints in %s are from other inputs: starting fresh", root)
            return None
    except (OSError, ValueError):
        return None
    return latest_complete(root)


def resume_point(root: Path, fp: str | None, world: World) -> Path | None:
    """The checkpoint every worker resumes from, or None after emptying `root` for a fresh
    run. Workers resume only if all of them found the same step."""
    found = _resumable(root, fp)
    step = int(_STEP.search(found.name).group(1)) if found else None  # type: ignore[union-attr]
    if all_equal(step) and found is not None:
        log.info("resuming from %s (same params, data and code)", os.path.relpath(found))
        return found
    barrier()  # nobody is still reading `root`
    if world.local_rank == 0:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if fp is not None:
            write_json(root / FINGERPRINT, fp)
    barrier()
    return None


def mark_complete_callback() -> Any:
    """A Trainer callback recording each saved checkpoint's checksums once it is whole."""
    from transformers import TrainerCallback

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            barrier()  # every worker has written its RNG state into the checkpoint
            if state.is_local_process_zero:
                ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                write_json(ckpt / COMPLETE, _manifest(ckpt))
                rotate(Path(args.output_dir), keep={ckpt, state.best_model_checkpoint})

    return MarkComplete()


def rotate(root: Path, *, keep: set[Any]) -> None:
    """Delete every checkpoint but `keep` (the newest and the best), only once the newest is
    complete. The Trainer's own rotation (`save_total_limit`) runs before that, so a crash
    in between could leave no complete checkpoint at all. The record goes first: a crash
    mid-delete leaves a checkpoint that is visibly incomplete, never one that looks whole."""
    kept = {Path(p).resolve() for p in keep if p is not None}
    for ckpt in root.glob("checkpoint-*"):
        if ckpt.resolve() not in kept:
            (ckpt / COMPLETE).unlink(missing_ok=True)
            shutil.rmtree(ckpt, ignore_errors=True)


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
