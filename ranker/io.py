"""Atomic file writes and path guards: a stage leaves complete outputs or none."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ranker.errors import RankerError


def inside_repo(path: str | Path, root: str | Path | None = None) -> Path:
    """Resolve `path` and refuse it when it escapes the repository (the working directory)."""
    base = Path(root or os.getcwd()).resolve()
    resolved = (base / path).resolve()
    if resolved != base and base not in resolved.parents:
        raise RankerError(f"{path}: output path is outside the repository {base}")
    return resolved


@contextlib.contextmanager
def atomic_path(dest: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; on success rename it over `dest`, else remove it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        os.chmod(tmp, 0o755)
    else:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if is_dir:
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
