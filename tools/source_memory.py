"""Peak memory of the download stage on each source shape a user brings, at a size given in
MB, in a fresh process that imports ranker: pairs as TSV, JSON Lines and Parquet, a BEIR
folder, and a TREC collection in MS MARCO's shape (headerless TSV). Generated here, never
downloaded; `make bench` runs it at two sizes, so a peak that grows with the file shows.
The CORD-19 metadata.csv path is tools/trec_memory.py's."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from tools.trec_memory import PEAK, WORDS, _child

SHAPES = ("tsv", "jsonl", "parquet", "beir", "trec")
QUERIES = 200
JUDGED = 5_000  # documents the BEIR and TREC qrels judge


def _text(rng: random.Random, i: int, words: int) -> str:
    return f"doc {i} " + " ".join(rng.choices(WORDS, k=words))


def _pairs(folder: Path, shape: str, rows: int) -> Path:
    import pandas as pd

    rng = random.Random(0)
    path = folder / f"pairs.{shape}"
    # Written in slices, so the generator holds no more than the reader will.
    step = 100_000
    for start in range(0, rows, step):
        frame = pd.DataFrame(
            {
                "query": [f"query {i % QUERIES}" for i in range(start, min(rows, start + step))],
                "title": [_text(rng, i, 24) for i in range(start, min(rows, start + step))],
                "label": [int(i % 7 == 0) for i in range(start, min(rows, start + step))],
            }
        )
        if shape == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if start == 0:
                writer = pq.ParquetWriter(path, pa.Schema.from_pandas(frame, preserve_index=False))
            writer.write_table(pa.Table.from_pandas(frame, preserve_index=False))
        elif shape == "jsonl":
            frame.to_json(path, orient="records", lines=True, mode="a")
        else:
            frame.to_csv(path, sep="\t", index=False, header=start == 0, mode="a")
    if shape == "parquet":
        writer.close()
    return path


def _beir(folder: Path, docs: int) -> Path:
    rng = random.Random(0)
    root = folder / "beir"
    (root / "qrels").mkdir(parents=True)
    every = max(docs // JUDGED, 1)
    with open(root / "corpus.jsonl", "w") as out:
        for i in range(docs):
            record = {"_id": f"d{i}", "title": _text(rng, i, 12), "text": _text(rng, i, 200)}
            out.write(json.dumps(record) + "\n")
    with open(root / "queries.jsonl", "w") as out:
        for q in range(QUERIES):
            out.write(json.dumps({"_id": f"q{q}", "text": f"query {q}"}) + "\n")
    with open(root / "qrels" / "test.tsv", "w") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for j, i in enumerate(range(0, docs, every)):
            out.write(f"q{j % QUERIES}\td{i}\t{j % 3}\n")
    return root


def _trec(folder: Path, docs: int) -> Path:
    import yaml

    rng = random.Random(0)
    every = max(docs // JUDGED, 1)
    with open(folder / "collection.tsv", "w") as out:
        for i in range(docs):
            out.write(f"{i}\t{_text(rng, i, 200)}\n")
    (folder / "queries.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in range(QUERIES)))
    with open(folder / "qrels.txt", "w") as out:
        for j, i in enumerate(range(0, docs, every)):
            out.write(f"{j % QUERIES} 0 {i} {j % 4}\n")
    spec = {
        "topics": {"location": str(folder / "queries.tsv")},
        "qrels": {"location": str(folder / "qrels.txt")},
        "collection": {"location": str(folder / "collection.tsv"), "header": False},
    }
    path = folder / "trec.yaml"
    path.write_text(yaml.safe_dump({"trec": spec}))
    return path


def write_source(folder: Path, shape: str, size_mb: int) -> Path:
    """A source of about `size_mb` MB: pairs rows of ~190 bytes; documents of ~1.5 KB."""
    if shape in ("tsv", "jsonl", "parquet"):
        return _pairs(folder, shape, size_mb * 2**20 // 190)
    docs = size_mb * 2**20 // 1500
    return _beir(folder, docs) if shape == "beir" else _trec(folder, docs)


def _size(path: Path) -> int:
    """Bytes of the source: a pairs file, a BEIR folder, or a spec's three files."""
    if path.is_dir():
        files = list(path.rglob("*"))
    elif path.suffix == ".yaml":
        files = [path.parent / name for name in ("collection.tsv", "queries.tsv", "qrels.txt")]
    else:
        files = [path]
    return sum(f.stat().st_size for f in files if f.is_file())


def source_peak(shape: str, size_mb: int) -> dict[str, Any]:
    """Peak RSS of a fresh process running the download stage on a generated source."""
    with tempfile.TemporaryDirectory() as tmp:
        source = write_source(Path(tmp), shape, size_mb)
        threshold = "None" if shape in ("tsv", "jsonl", "parquet") else "1"
        out = _child(
            "from pathlib import Path\n"
            "from ranker.config import DataParams\n"
            "from ranker.data.download import run_download\n"
            f"p = DataParams(source={str(source)!r}, graded_threshold={threshold})\n"
            f"s = run_download(p, Path({tmp!r}) / 'raw', Path({tmp!r}) / 'data.json')\n"
            f"print(s['rows'], s['corpus_docs'], {PEAK})"
        )
        if isinstance(out, dict):
            return out
        size = _size(source)
    rows, docs, hwm_kb = out
    return {
        "shape": shape,
        "file_mb": round(size / 2**20),
        "pairs": int(rows),
        "corpus_docs": int(docs),
        "peak_rss_mib": round(int(hwm_kb) / 1024),
    }


def sources_peak(sizes_mb: tuple[int, ...] = (100, 400)) -> list[dict[str, Any]]:
    return [source_peak(shape, size) for shape in SHAPES for size in sizes_mb]
