"""Peak memory of reading a CORD-19-sized metadata.csv (generated; the real one is 1.5 GB), in
a fresh process that imports ranker: a fixture generator for tests and the bench alike."""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the repo: the child imports ranker from there
WORDS = [
    "virus",
    "patients",
    "infection",
    "cells",
    "protein",
    "clinical",
    "study",
    "sars",
    "cov",
    "respiratory",
]


def write_metadata(path: Path, *, size_mb: int, judged: int) -> Path:
    """A metadata.csv of about `size_mb` MB in CORD-19's layout (quoted multi-line abstracts
    and extra columns); documents j0000000.. are the `judged` ones, spread through it."""
    rng = random.Random(0)
    abstract = " ".join(rng.choice(WORDS) for _ in range(300))
    # Abstracts of 1500-1999 characters plus the other fields: ~1,830 bytes a row.
    rows = size_mb * 2**20 // 1830
    every = max(rows // judged, 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("cord_uid,sha,source_x,title,doi,abstract,publish_time\n")
        for i in range(rows):
            uid = f"j{i // every:07d}" if i % every == 0 and i // every < judged else f"u{i:08d}"
            fh.write(f'{uid},abc{i},PMC,"Title {i}, on ""{WORDS[i % 10]}""",10.1/{i},')
            fh.write(f'"{abstract[: 1500 + i % 500]}\nSecond paragraph.",2020-07-16\n')
    return path


def metadata_peak(size_mb: int = 1500, judged: int = 40_000) -> dict[str, Any]:
    """Peak RSS of a fresh process that reads the judged titles from a generated file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_metadata(Path(tmp) / "metadata.csv", size_mb=size_mb, judged=judged)
        code = (
            f"import re, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from ranker.data.trec import read_titles\n"
            f"t = read_titles({str(path)!r}, {{f'j{{i:07d}}' for i in range({judged})}})\n"
            "print(len(t), re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            return {"error": out.stderr.strip().splitlines()[-1]}
        kept, hwm_kb = out.stdout.split()
        size = path.stat().st_size
    return {
        "file_mb": round(size / 2**20),
        "titles_kept": int(kept),
        "peak_rss_mib": round(int(hwm_kb) / 1024),
        "peak_over_file": round(int(hwm_kb) * 1024 / size, 3),
    }
