"""Peak memory of reading a CORD-19-sized metadata.csv (generated; the real one is 1.5 GB), in
a fresh process that imports ranker: a fixture generator for tests and the bench alike.
`corpus_peak` measures the corpus a metadata.csv becomes and the first stage over it."""

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


# The child's reader of a CORD-19 metadata.csv, as ranker/data/trec_covid.yaml maps it.
CORD19 = (
    "from ranker.data.formats import Columns\n"
    "from ranker.data.trec import COLLECTION, read_collection\n"
    "columns = Columns({'doc_id': 'cord_uid'}, required=COLLECTION)\n"
)
PEAK = "re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]"


def _child(code: str) -> list[str] | dict[str, str]:
    """Run `code` in a fresh interpreter that imports ranker from the repo; its stdout words."""
    prelude = f"import re, sys; sys.path.insert(0, {str(ROOT)!r})\n"
    out = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return out.stdout.split()


def metadata_peak(size_mb: int = 1500, judged: int = 40_000) -> dict[str, Any]:
    """Peak RSS of a fresh process that reads the judged titles from a generated file and
    writes every titled row to a corpus on the way, as the download stage does."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_metadata(Path(tmp) / "metadata.csv", size_mb=size_mb, judged=judged)
        out = _child(
            "from pathlib import Path\n"
            "from ranker.data.corpus import CorpusWriter\n"
            f"{CORD19}"
            f"with CorpusWriter(Path({tmp!r}) / 'corpus.parquet') as corpus:\n"
            f"    t = read_collection({str(path)!r}, {{f'j{{i:07d}}' for i in range({judged})}},\n"
            "                        columns=columns, corpus=corpus)\n"
            f"print(len(t), corpus.docs, {PEAK})"
        )
        if isinstance(out, dict):
            return out
        kept, docs, hwm_kb = out
        size = path.stat().st_size
    return {
        "file_mb": round(size / 2**20),
        "titles_kept": int(kept),
        "corpus_docs": int(docs),
        "peak_rss_mib": round(int(hwm_kb) / 1024),
        "peak_over_file": round(int(hwm_kb) * 1024 / size, 3),
    }


def write_titles_only(path: Path, docs: int) -> Path:
    """A metadata.csv of `docs` rows with titles of 6-14 words and no abstracts: a corpus
    of a million documents without gigabytes of text nobody indexes."""
    rng = random.Random(0)
    vocab = [f"{w}{i}" for i in range(2000) for w in WORDS[:3]] + WORDS
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("cord_uid,title\n")
        for i in range(docs):
            fh.write(f"u{i:08d},{' '.join(rng.choices(vocab, k=rng.randint(6, 14)))}\n")
    return path


def corpus_peak(docs: int = 1_000_000, queries: int = 50, k: int = 100) -> dict[str, Any]:
    """Peak RSS of building a `docs`-document corpus from a generated metadata.csv, and of
    the first stage over it (a BM25 index, then `queries` top-k), each in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_titles_only(Path(tmp) / "metadata.csv", docs)
        corpus = Path(tmp) / "corpus.parquet"
        built = _child(
            "from pathlib import Path\n"
            "from ranker.data.corpus import CorpusWriter\n"
            f"{CORD19}"
            f"with CorpusWriter(Path({str(corpus)!r})) as corpus:\n"
            f"    read_collection({str(path)!r}, set(), columns=columns, corpus=corpus)\n"
            f"print(corpus.docs, {PEAK})"
        )
        searched = _child(
            "from pathlib import Path\n"
            "from ranker.config import RetrieveParams\n"
            "from ranker.data.corpus import read_corpus\n"
            "from ranker.retrieval.retrieve import retrieve\n"
            f"c = read_corpus(Path({str(corpus)!r}))\n"
            f"qs = [' '.join(t.split()[:3]) for t in c['title'][:{queries}]]\n"
            f"run = retrieve(c, qs, RetrieveParams(k={k}))\n"
            f"print(len(run), {PEAK})"
        )
        size = path.stat().st_size
    if isinstance(built, dict) or isinstance(searched, dict):
        return {"error": (built if isinstance(built, dict) else searched)["error"]}
    return {
        "docs": int(built[0]),
        "file_mb": round(size / 2**20),
        "corpus_build_peak_rss_mib": round(int(built[1]) / 1024),
        "bm25_index_and_search_peak_rss_mib": round(int(searched[1]) / 1024),
        "hits": int(searched[0]),
    }
