"""A BEIR dataset as its publishers ship it: a .zip (scifact.zip holds scifact/corpus.jsonl,
scifact/queries.jsonl, scifact/qrels/*.tsv), a URL or a path.

Only BEIR's own files are taken out, each to a name this module makes (never a name the
archive gives), so an entry named `../../etc/passwd` or a symlink cannot write outside the
scratch folder; what is taken out is counted as it is inflated, so an archive whose headers
understate its sizes (a zip bomb) stops at RANKER_DOWNLOAD_MAX_BYTES, not at a full disk.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ranker.data.beir import FILES, QRELS_SPLITS
from ranker.errors import DataError

CHUNK = 1 << 20
SUFFIXES = (".zip",)


def is_archive(source: str) -> bool:
    return PurePosixPath(source.split("?")[0]).suffix.lower() in SUFFIXES


def _root(names: list[str], name: str) -> str:
    """The folder of the archive that holds corpus.jsonl: its root or one folder down."""
    roots = [
        n[: -len(FILES[0])]
        for n in names
        if PurePosixPath(n).name == FILES[0] and len(PurePosixPath(n).parts) <= 2
    ]
    if not roots:
        raise DataError(f"{name}: no corpus.jsonl at the archive's top or one folder down")
    unsafe = [r for r in roots if r.startswith("/") or ".." in PurePosixPath(r).parts]
    if unsafe:
        raise DataError(f"{name}: an entry {unsafe[0]}{FILES[0]} points outside the archive")
    if len(roots) > 1:
        raise DataError(f"{name}: more than one corpus.jsonl ({', '.join(sorted(roots))})")
    return roots[0]


def extract_beir(archive: Path, dest: Path, *, name: str, max_bytes: int) -> Path:
    """BEIR's files of `archive` into the folder `dest` (made here); returns `dest`."""
    try:
        handle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{name}: not a zip archive ({exc})") from None
    with handle:
        infos = {info.filename: info for info in handle.infolist()}
        root = _root(list(infos), name)
        wanted = [*FILES, *(f"qrels/{split}.tsv" for split in QRELS_SPLITS)]
        dest.mkdir(parents=True)
        (dest / "qrels").mkdir()
        budget = max_bytes
        for relative in wanted:
            info = infos.get(root + relative)
            if info is None:
                continue  # beir.py names what a complete folder lacks
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"{name}: {info.filename} is a symlink; BEIR's files are files")
            budget = _copy(handle, info, dest / relative, budget, name)
    return dest


def _copy(handle: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, budget: int, name: str) -> int:
    try:
        with handle.open(info) as src, open(out, "xb") as dst:
            while block := src.read(CHUNK):
                budget -= len(block)
                if budget < 0:
                    raise DataError(
                        f"{name}: inflates to more than RANKER_DOWNLOAD_MAX_BYTES; raise it if "
                        "this archive is expected"
                    )
                dst.write(block)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError: an unknown compression.
        raise DataError(f"{name}: {info.filename}: cannot be read ({exc})") from None
    return budget


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
