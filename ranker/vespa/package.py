"""The Vespa application package beside the ONNX model, generated with pyvespa.

pyvespa builds services.xml (a container with a `hugging-face-tokenizer` component over the
exported tokenizer.json, a content cluster) and schemas/doc.sd (a title field with BM25,
the title's token ids as an attribute tensor, the ONNX model bound to tokenInputIds /
tokenTypeIds / tokenAttentionMask functions, a BM25 first phase and a global-phase rerank).
One thing pyvespa decides for us: `OnnxModel` files go to `files/<name>.onnx` (its
`to_files` copies them there and the schema points there), so the model and the tokenizer
live in `files/`, not `models/`.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from vespa.package import (
    ApplicationPackage,
    Component,
    Document,
    Field,
    Function,
    GlobalPhaseRanking,
    OnnxModel,
    Parameter,
    RankProfile,
    Schema,
)

from ranker.config import VespaParams
from ranker.files import atomic_path
from ranker.serve.contract import OUTPUT, TOKENIZER

log = logging.getLogger(__name__)

APP = "ranker"
SCHEMA = "doc"
MODEL = "ranker"
PROFILE = "rerank"
EMBEDDER = "tokenizer"
QUERY_TENSOR = "query(q)"
# Never sent, so all zeros: an input of length 0, which adds one more separator.
EMPTY_TENSOR = "query(empty)"
TITLE_TOKENS = "title_tokens"
# The log-odds of "relevant", the score the pipeline evaluates: the one logit of a
# one-logit head, logit 1 minus logit 0 of a two-logit one.
SCORES = {
    1: f"onnx({MODEL}).{OUTPUT}{{d0:0,d1:0}}",
    2: f"onnx({MODEL}).{OUTPUT}{{d0:0,d1:1}} - onnx({MODEL}).{OUTPUT}{{d0:0,d1:0}}",
}
BERT_IDS = ([101], [102])  # tokenInputIds' own [CLS] and [SEP]


def input_functions(manifest: dict[str, Any], length: int) -> list[Function]:
    """The rank profile's functions that build each ONNX input, in the model's template."""
    template = manifest["template"]
    start, sep = template["start"], template["end"]
    parts = [QUERY_TENSOR, f"attribute({TITLE_TOKENS})"]
    if len(template["middle"]) == 2:  # </s></s> between query and title
        parts.insert(1, EMPTY_TENSOR)
    args = ", ".join([str(length), *parts])
    ids = (
        f"tokenInputIds({args})"
        if (start, sep) == BERT_IDS
        else f"customTokenInputIds({start[0]}, {sep[0]}, {args})"
    )
    expressions = {
        "input_ids": ids,
        "attention_mask": f"tokenAttentionMask({args})",
        "token_type_ids": f"tokenTypeIds({length}, {QUERY_TENSOR}, attribute({TITLE_TOKENS}))",
    }
    return [Function(name, expressions[name]) for name in manifest["inputs"]]


def application(
    *,
    model_path: Path,
    params: VespaParams,
    bm25: tuple[float, float],
    length: int,
    manifest: dict[str, Any],
) -> ApplicationPackage:
    """`bm25`: (k1, b) of the first phase, the retrieve stage's."""
    logits = int(manifest["output"][OUTPUT]["shape"][1])
    inputs = [(QUERY_TENSOR, f"tensor<float>(d0[{params.query_tokens}])")]
    if len(manifest["template"]["middle"]) == 2:
        inputs.append((EMPTY_TENSOR, "tensor<float>(d0[1])", "[0]"))
    schema = Schema(
        SCHEMA,
        Document(
            fields=[
                Field("id", "string", indexing=["summary", "attribute"]),
                # No stemming: the pipeline's BM25 (ranker/retrieval/bm25.py) tokenises the
                # same way, so the first phase's hits are the ones evaluation reranked.
                Field(
                    "title",
                    "string",
                    indexing=["index", "summary"],
                    index="enable-bm25",
                    stemming="none",
                ),
                # Filled at indexing time from the title, outside the document.
                Field(
                    TITLE_TOKENS,
                    f"tensor<float>(d0[{length}])",
                    indexing=["input title", f"embed {EMBEDDER}", "attribute"],
                    is_document_field=False,
                ),
            ]
        ),
        models=[
            OnnxModel(
                MODEL,
                str(model_path),
                inputs={name: name for name in manifest["inputs"]},
                outputs={OUTPUT: OUTPUT},
            )
        ],
        rank_profiles=[
            RankProfile(
                PROFILE,
                inherits="default",
                inputs=inputs,
                functions=input_functions(manifest, length),
                first_phase="bm25(title)",
                rank_properties=[
                    ("bm25(title).k1", repr(bm25[0])),
                    ("bm25(title).b", repr(bm25[1])),
                ],
                global_phase=GlobalPhaseRanking(SCORES[logits], rerank_count=params.rerank_count),
            )
        ],
    )
    tokenizer = Component(
        EMBEDDER,
        type="hugging-face-tokenizer",
        parameters=[
            Parameter("model", {"path": f"files/{TOKENIZER}"}),
            # (custom)tokenInputIds adds the start and separator ids itself.
            Parameter("add-special-tokens", {}, "false"),
        ],
    )
    return ApplicationPackage(APP, schema=[schema], components=[tokenizer])


def readme(
    *,
    params: VespaParams,
    length: int,
    k: int,
    quality: dict[str, Any],
    gate: dict[str, Any],
    manifest: dict[str, Any],
    example: tuple[str, list[str]],
) -> str:
    rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in quality.items())
    query, titles = example
    feeds = "\n".join(
        f"vespa document put id:{SCHEMA}:{SCHEMA}::{i} <(echo "
        + shlex.quote(json.dumps({"fields": {"id": str(i), "title": t}}, ensure_ascii=False))
        + ")"
        for i, t in enumerate(titles, start=1)
    )
    cli = " ".join(shlex.quote(t) for t in titles)
    logits = int(manifest["output"][OUTPUT]["shape"][1])
    inputs = "\n".join(f"- `{f.name}`: `{f.expression}`" for f in input_functions(manifest, length))
    return f"""# Vespa application package (generated by the export stage)

Model: `files/{MODEL}.onnx` ({params.model}, a {manifest["model_type"]} cross-encoder),
tokenizer: `files/{TOKENIZER}`; the schema (`schemas/{SCHEMA}.sd`) ranks by BM25 on the
title, then re-ranks the top {params.rerank_count} hits (`vespa.rerank_count`) in a global
phase by the cross-encoder's score, `{SCORES[logits]}`, from inputs Vespa builds:

{inputs}

## Deploy

```bash
docker run --detach --name vespa --publish 8080:8080 --publish 19071:19071 vespaengine/vespa
vespa config set target local
vespa deploy --wait 300 .
```

## Feed and query

A validation query of the data this package was built from, with two of its judged titles
(the relevant one first):

```bash
{feeds}
vespa query 'yql=select * from {SCHEMA} where userQuery()' {shlex.quote("query=" + query)} \\
  'type=any' 'ranking={PROFILE}' 'input.query(q)=embed({EMBEDDER}, @query)'
```

The same titles scored without Vespa, by the exported ONNX model (`ranker-rerank`,
onnxruntime and tokenizers only):

```bash
ranker-rerank -m models/onnx -q {shlex.quote(query)} {cli}
```

`type=any` matches a title sharing any query word, as the pipeline's first stage does
(Vespa's default, `all`, would match only titles holding every word, and `weakAnd`
approximates `any`'s top hits).

The query's tokens fill `query(q)` (`tensor<float>(d0[{params.query_tokens}])`,
`vespa.query_tokens`: longer queries are cut there).

## What to expect

The pipeline measured this model at:

| measure | value |
| --- | --- |
{rows}

Scores from inputs built Vespa's way (checked by the export stage on the validation
pairs): {gate["same_tokens"]} of {gate["pairs"]} pairs get the pipeline's exact tokens and
their scores differ by at most {gate["max_abs_diff_same_tokens"]:.1e}; Vespa's cut (from the
end, not longest-first) changes the tokens of {gate["tokens_differ"]}, which moves
validation nDCG@{k} from {gate[f"ndcg@{k}_pipeline"]:.4f} to {gate[f"ndcg@{k}_vespa"]:.4f}.
"""


def write_package(
    out_dir: Path,
    *,
    onnx_dir: Path,
    params: VespaParams,
    bm25: tuple[float, float],
    length: int,
    quality: dict[str, Any],
    gate: dict[str, Any],
    model_name: str,
    k: int,
    manifest: dict[str, Any],
    example: tuple[str, list[str]],
) -> None:
    """The whole package into `out_dir`, atomically; `example` (a query and titles from the
    data, `example_pairs`) fills the README's commands."""
    app = application(
        model_path=onnx_dir / model_name,
        params=params,
        bm25=bm25,
        length=length,
        manifest=manifest,
    )
    with atomic_path(out_dir, is_dir=True) as tmp:
        app.to_files(tmp)
        shutil.copyfile(onnx_dir / TOKENIZER, tmp / "files" / TOKENIZER)
        for empty in ("models",):
            if (tmp / empty).is_dir() and not any((tmp / empty).iterdir()):
                (tmp / empty).rmdir()
        text = readme(
            params=params,
            length=length,
            k=k,
            quality=quality,
            gate=gate,
            manifest=manifest,
            example=example,
        )
        (tmp / "README.md").write_text(text, encoding="utf-8")
    log.info("wrote the Vespa application package to %s", out_dir)


def example_pairs(frame: pd.DataFrame) -> tuple[str, list[str]]:
    """A query of `frame` (the validation pairs) with a relevant and an irrelevant title:
    the first such query in sorted order, its first titles of each label, so the same data
    gives the same README."""
    for query, group in sorted(frame.groupby("query", sort=False), key=lambda kv: kv[0]):
        relevant = group.loc[group["label"] == 1, "title"]
        other = group.loc[group["label"] == 0, "title"]
        if len(relevant) and len(other):
            return str(query), [str(relevant.iat[0]), str(other.iat[0])]
    first = frame.iloc[0]
    return str(first["query"]), [str(first["title"])]


def write_skipped(out_dir: Path, reason: str) -> None:
    """`out_dir` with only a README saying why there is no package (the ONNX is written)."""
    with atomic_path(out_dir, is_dir=True) as tmp:
        (tmp / "README.md").write_text(
            f"# No Vespa application package\n\n{reason}.\n\nThe ONNX model in models/onnx "
            "serves anywhere ONNX Runtime runs (`ranker-rerank`, your own server).\n",
            encoding="utf-8",
        )
    log.warning("no Vespa application package: %s", reason)
