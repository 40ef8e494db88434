"""Re-hash DVC-tracked outputs against `dvc.lock` and the local cache.

DVC (3.67) trusts its local cache: `dvc checkout` links or copies a cache object into the
workspace without re-hashing it, and `dvc status` compares the workspace with DVC's own
hash database, so a flipped byte in a cache object or a workspace file can go unnoticed.
(`verify = true` on a remote only re-hashes what is pulled from that remote.) This module
reads the files themselves: every output's workspace file and cache object must have the
md5 that `dvc.lock` records.

    python -m ranker.verify [PATH ...]      # all outputs, or those at/under PATHs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from ranker.files import file_digest

CACHE = Path(".dvc") / "cache" / "files" / "md5"


@dataclass(frozen=True)
class Tracked:
    path: str  # relative to the repo root
    md5: str
    project: str = "."  # the DVC project whose dvc.lock and cache hold it

    @property
    def lock(self) -> str:
        return (Path(self.project) / "dvc.lock").as_posix()


def md5_file(path: Path) -> str:
    return file_digest(path, "md5")


def cache_object(root: Path, md5: str) -> Path:
    return root / CACHE / md5[:2] / md5[2:]


# The main project, and cross-validation's (a DVC project of its own, with its own cache)
# once `make cv` has run there.
PROJECTS = (".", "cv")


def locked_outputs(root: Path) -> list[Tracked]:
    found = []
    for project in PROJECTS:
        name = root / project / "dvc.lock"
        if not name.is_file():
            continue
        lock = yaml.safe_load(name.read_text(encoding="utf-8")) or {}
        found += [
            Tracked((Path(project) / out["path"]).as_posix(), out["md5"], project)
            for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs") or []
        ]
    return found


def _selected(path: str, targets: list[str]) -> bool:
    if not targets:
        return True
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets)


def _check_file(root: Path, out: Tracked, rel: str, md5: str) -> Iterator[str]:
    workspace, cached = root / rel, cache_object(root / out.project, md5)
    if not workspace.is_file():
        yield f"{rel}: missing from the workspace (expected md5 {md5}; run `dvc checkout`)"
    elif (got := md5_file(workspace)) != md5:
        yield f"{rel}: workspace file has md5 {got}, {out.lock} expects {md5}"
    if not cached.is_file():
        yield f"{rel}: not in the local cache ({cached.relative_to(root)}; run `dvc fetch`)"
    elif (got := md5_file(cached)) != md5:
        yield f"{rel}: cache object {cached.relative_to(root)} is corrupt (md5 {got}, expected {md5})"


def _check_dir(root: Path, out: Tracked) -> Iterator[str]:
    manifest = cache_object(root / out.project, out.md5)
    if not manifest.is_file():
        yield f"{out.path}: directory listing not in the local cache ({manifest.relative_to(root)})"
        return
    # A directory's hash is the md5 of its listing, stored in the cache as `<md5>.dir`.
    if (got := md5_file(manifest)) != out.md5.removesuffix(".dir"):
        yield f"{out.path}: directory listing {manifest.relative_to(root)} is corrupt (md5 {got})"
        return
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    listed = {entry["relpath"] for entry in entries}
    for entry in entries:
        yield from _check_file(root, out, f"{out.path}/{entry['relpath']}", entry["md5"])
    folder = root / out.path
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in listed:
                yield f"{out.path}/{rel}: in the workspace but not in the output {out.lock} records"


def selected_outputs(root: Path, targets: list[str]) -> list[Tracked]:
    """The outputs of dvc.lock at or under `targets` (all of them when there are none)."""
    return [out for out in locked_outputs(root) if _selected(out.path, targets)]


def check_outputs(root: Path, outputs: list[Tracked]) -> list[str]:
    """One line per problem found; an empty list means every output is intact."""
    problems: list[str] = []
    for out in outputs:
        if out.md5.endswith(".dir"):
            problems.extend(_check_dir(root, out))
        else:
            problems.extend(_check_file(root, out, out.path, out.md5))
    return problems


def verify(root: str | Path = ".", targets: list[str] | None = None) -> list[str]:
    """`check_outputs` on the outputs at or under `targets`."""
    root = Path(root)
    return check_outputs(root, selected_outputs(root, targets or []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ranker-verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="outputs to check (default: all in dvc.lock)")
    args = parser.parse_args(argv)
    if not Path("dvc.lock").is_file():
        print("error: dvc.lock: not found; run from the repository root", file=sys.stderr)
        return 1
    targets = [p.rstrip("/") for p in args.paths]
    checked = selected_outputs(Path("."), targets)
    if not checked:
        print(f"error: no output of dvc.lock at {', '.join(targets)}", file=sys.stderr)
        return 1
    problems = check_outputs(Path("."), checked)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"verified {len(checked)} output(s): workspace and cache match dvc.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
