"""The encode stage: tokenize (query, title) as a sentence pair into Parquet, in the
model's own pair template. Every row keeps all three id columns (token types are 0s for a
model without them); what a model is fed is `ranker.model.families.model_inputs`.

With `padding: longest` rows are stored unpadded and padded per batch at train/eval time;
`max_length` stores every row padded to `max_length`, as the reference did.

A split file is read, tokenized and written in chunks, one Parquet row group each, so
memory holds one chunk whatever the data's size.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ranker.config import EncodeParams
from ranker.errors import DataError
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)

FEATURES = ("input_ids", "token_type_ids", "attention_mask")
CHUNK = 1024


def grades_of(df: pd.DataFrame) -> pd.Series:
    """Graded judgements where the data has them, else the binary labels."""
    return df["grade"] if "grade" in df.columns else df["label"]


def encode_frame(
    df: pd.DataFrame,
    tokenizer: Any,
    params: EncodeParams,
    desc: str = "encode",
    bar: Any = None,
) -> pa.Table:
    """Tokenize a frame of pairs; progress goes to `bar` (a caller's, kept open) or a new one."""
    columns: dict[str, list[Any]] = {k: [] for k in FEATURES}
    padding = "max_length" if params.padding == "max_length" else False
    queries, titles = df["query"].tolist(), df["title"].tolist()
    with (
        contextlib.nullcontext(bar)
        if bar is not None
        else tqdm(total=len(df), desc=desc, unit="pair") as bar
    ):
        for start in range(0, len(df), CHUNK):
            enc = tokenizer(
                queries[start : start + CHUNK],
                titles[start : start + CHUNK],
                truncation="longest_first",
                max_length=params.max_length,
                padding=padding,
                return_token_type_ids=True,
                return_attention_mask=True,
            )
            for key in FEATURES:
                columns[key].extend(enc[key])
            bar.update(min(CHUNK, len(df) - start))
    ids = pa.list_(pa.int32())
    return pa.table(
        {
            "query": pa.array(queries, pa.string()),
            "title": pa.array(titles, pa.string()),
            "label": pa.array(df["label"].astype("int64").tolist(), pa.int64()),
            # The judgement grade (graded nDCG); equal to label for binary data.
            "grade": pa.array(grades_of(df).astype("int64").tolist(), pa.int64()),
            **{key: pa.array(columns[key], ids) for key in FEATURES},
        }
    )


# Above this share of [UNK] tokens in a split's queries or titles the stage warns: the
# tokenizer does not cover the data's script or vocabulary (Chinese text through an English
# WordPiece vocabulary is all [UNK]), and the model cannot read what it does not see.
UNK_WARN = 0.01


class _Unknown:
    """[UNK] tokens of one side (queries or titles) and a first example."""

    def __init__(self) -> None:
        self.unk = self.tokens = 0
        self.example: str | None = None

    def add(self, text: str, ids: list[int], unk_id: int) -> None:
        found = ids.count(unk_id)
        self.unk += found
        self.tokens += len(ids)
        if found and self.example is None:
            self.example = text

    @property
    def rate(self) -> float:
        return round(self.unk / self.tokens, 4) if self.tokens else 0.0


class _Stats:
    """The meta.json numbers of one split, accumulated chunk by chunk."""

    def __init__(self) -> None:
        self.rows = self.tokens = self.longest = self.truncated = 0
        self.unknown = {"queries": _Unknown(), "titles": _Unknown()}
        self._queries: set[str] = set()

    def add(self, table: pa.Table, max_length: int, frame: pd.DataFrame, tokenizer: Any) -> None:
        lengths = pc.list_value_length(table.column("input_ids"))
        self.rows += table.num_rows
        self.tokens += pc.sum(lengths).as_py() or 0
        self.longest = max(self.longest, pc.max(lengths).as_py() or 0)
        self.truncated += pc.sum(pc.greater_equal(lengths, max_length)).as_py() or 0
        self._add_unknown(table, frame, tokenizer)

    def _add_unknown(self, table: pa.Table, frame: pd.DataFrame, tokenizer: Any) -> None:
        """[UNK]s of each side, read off the pair encodings already made: start + query +
        separator(s) + title + end, the query ending at the first separator."""
        unk_id, sep_id = tokenizer.unk_token_id, tokenizer.sep_token_id
        if unk_id is None or sep_id is None:
            return
        rows = zip(
            frame["query"],
            frame["title"],
            table.column("input_ids").to_pylist(),
            table.column("attention_mask").to_pylist(),
            strict=True,
        )
        for query, title, ids, mask in rows:
            ids = ids[: mask.count(1)]
            cut = ids.index(sep_id, 1) if sep_id in ids[1:] else len(ids) - 1
            rest = cut
            while rest < len(ids) - 1 and ids[rest] == sep_id:
                rest += 1
            # A query repeats over its candidates: each distinct one counts once.
            if query not in self._queries:
                self._queries.add(query)
                self.unknown["queries"].add(query, ids[1:cut], unk_id)
            self.unknown["titles"].add(title, ids[rest:-1], unk_id)

    def meta(self, params: EncodeParams) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "mean_tokens": round(self.tokens / max(self.rows, 1), 2),
            "max_tokens": self.longest,
            "truncated": self.truncated if params.padding == "longest" else None,
            "unk_rate": {side: u.rate for side, u in self.unknown.items()},
        }

    def report(self, desc: str, tokenizer: Any, params: EncodeParams) -> None:
        """One line each for what the data did: truncation, and [UNK] above UNK_WARN."""
        if params.padding == "longest":
            log.info(
                "%s: %d of %d pairs (%.1f%%) truncated at encode.max_length %d",
                desc,
                self.truncated,
                self.rows,
                100 * self.truncated / max(self.rows, 1),
                params.max_length,
            )
        for side, unknown in self.unknown.items():
            if unknown.rate > UNK_WARN:
                example = (unknown.example or "")[:80]
                tokens = tokenizer.tokenize(example)[:12]
                log.warning(
                    "%s: %.1f%% of the %s' tokens are %s: %s does not cover this text (e.g. "
                    "%r -> %s); use a model whose vocabulary does (model.name)",
                    desc,
                    100 * unknown.rate,
                    side,
                    tokenizer.unk_token,
                    getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
                    example,
                    tokens,
                )


def encode_file(
    source: pd.DataFrame | Iterable[pd.DataFrame],
    dest: Path,
    tokenizer: Any,
    params: EncodeParams,
    desc: str,
) -> dict[str, Any]:
    """Encode a split (a frame, or its chunks as they are read) into the Parquet file `dest`."""
    stats, writer = _Stats(), None
    chunks = [source] if isinstance(source, pd.DataFrame) else source
    total = len(source) if isinstance(source, pd.DataFrame) else None
    try:
        with tqdm(total=total, desc=desc, unit="pair") as bar:
            for chunk in chunks:
                table = encode_frame(chunk, tokenizer, params, bar=bar)
                if writer is None:
                    writer = pq.ParquetWriter(dest, table.schema)
                writer.write_table(table)
                stats.add(table, params.max_length, chunk, tokenizer)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataError(f"{desc}: no pairs to encode")
    stats.report(desc, tokenizer, params)
    return stats.meta(params)


def run_encode(
    splits: dict[str, pd.DataFrame | Iterable[pd.DataFrame]],
    tokenizer: Any,
    params: EncodeParams,
    out_dir: Path,
    metrics_path: Path | None = None,
) -> dict[str, Any]:
    """Encode each split into `out_dir`; `metrics_path` gets what the data did per split
    (rows, pairs truncated at encode.max_length, [UNK] rates of queries and titles)."""
    meta: dict[str, Any] = {
        "max_length": params.max_length,
        "padding": params.padding,
        "splits": {},
    }
    with atomic_path(out_dir, is_dir=True) as tmp:
        for name, source in splits.items():
            meta["splits"][name] = encode_file(
                source, tmp / f"{name}.parquet", tokenizer, params, desc=f"encode {name}"
            )
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if metrics_path is not None:
        keys = ("rows", "truncated", "unk_rate")
        write_json(metrics_path, {n: {k: m[k] for k in keys} for n, m in meta["splits"].items()})
    log.info("encoded %s", {k: v["rows"] for k, v in meta["splits"].items()})
    return meta


def load_encoded(path: str | Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def load_features(path: str | Path) -> pa.Table:
    """Only what training reads (queries, labels and grades for a ranking loss's groups,
    token ids), as Arrow: no pandas copy."""
    return pq.read_table(path, columns=["query", "label", "grade", *FEATURES])
