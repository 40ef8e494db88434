"""The encode stage: tokenize (query, title) as a BERT sentence pair into Parquet.

With `padding: longest` rows are stored unpadded and padded per batch at train/eval time;
`max_length` stores every row padded to `max_length`, as the reference did.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ranker.config import EncodeParams
from ranker.files import atomic_path

log = logging.getLogger(__name__)

FEATURES = ("input_ids", "token_type_ids", "attention_mask")
CHUNK = 1024


def grades_of(df: pd.DataFrame) -> pd.Series:
    """Graded judgements where the data has them, else the binary labels."""
    return df["grade"] if "grade" in df.columns else df["label"]


def encode_frame(
    df: pd.DataFrame, tokenizer: Any, params: EncodeParams, desc: str = "encode"
) -> pa.Table:
    columns: dict[str, list[Any]] = {k: [] for k in FEATURES}
    padding = "max_length" if params.padding == "max_length" else False
    queries, titles = df["query"].tolist(), df["title"].tolist()
    with tqdm(total=len(df), desc=desc, unit="pair") as bar:
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


def run_encode(
    splits: dict[str, pd.DataFrame], tokenizer: Any, params: EncodeParams, out_dir: Path
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "max_length": params.max_length,
        "padding": params.padding,
        "splits": {},
    }
    with atomic_path(out_dir, is_dir=True) as tmp:
        for name, df in splits.items():
            table = encode_frame(df, tokenizer, params, desc=f"encode {name}")
            pq.write_table(table, tmp / f"{name}.parquet")
            lengths = [len(x) for x in table.column("input_ids").to_pylist()]
            meta["splits"][name] = {
                "rows": table.num_rows,
                "mean_tokens": round(sum(lengths) / max(len(lengths), 1), 2),
                "max_tokens": max(lengths, default=0),
                "truncated": sum(n >= params.max_length for n in lengths)
                if params.padding == "longest"
                else None,
            }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log.info("encoded %s", {k: v["rows"] for k, v in meta["splits"].items()})
    return meta


def load_encoded(path: str | Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()
