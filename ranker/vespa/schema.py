"""The Vespa application's services and schema, generated with pyvespa: a container with a
`hugging-face-tokenizer` component over the exported tokenizer.json, a content cluster, and
schemas/doc.sd (the document's fields, BM25 over the title or over the fields joined, that
text's token ids as an attribute tensor, the ONNX model bound to tokenInputIds /
tokenTypeIds / tokenAttentionMask functions, a BM25 first phase and a global-phase rerank).
One thing pyvespa decides for us: `OnnxModel` files go to `files/<name>.onnx` (its
`to_files` copies them there and the schema points there), so the model and the tokenizer
live in `files/`, not `models/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from ranker.serve.contract import OUTPUT, TOKENIZER

APP = "ranker"
SCHEMA = "doc"
MODEL = "ranker"
PROFILE = "rerank"
EMBEDDER = "tokenizer"
QUERY_TENSOR = "query(q)"
# Never sent, so all zeros: an input of length 0, which adds one more separator.
EMPTY_TENSOR = "query(empty)"
TITLE_TOKENS = "title_tokens"
# With data.text_fields beyond the title: the document's fields joined as the pipeline joins
# them (ranker/data/fields.py), the text the first phase's BM25 and the model read.
JOINED = "document_text"
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


def text_source(fields: tuple[str, ...]) -> tuple[str, str]:
    """(the field BM25 ranks, the indexing expression of the text the model reads): the
    title itself, or every field joined by a space, a missing one read as empty."""
    if fields == ("title",):
        return "title", "input title"
    return JOINED, ' . " " . '.join(f'(input {f} || "")' for f in fields)


def _document_fields(fields: tuple[str, ...], length: int) -> list[Field]:
    ranked, text = text_source(fields)
    # No stemming: the pipeline's BM25 (ranker/retrieval/bm25.py) tokenises the same way, so
    # the first phase's hits are the ones evaluation reranked.
    bm25 = {"index": "enable-bm25", "stemming": "none"}
    out = [Field("id", "string", indexing=["summary", "attribute"])]
    if ranked == "title":
        out.append(Field("title", "string", indexing=["index", "summary"], **bm25))
    else:
        out += [Field(f, "string", indexing=["summary"]) for f in fields]
        joined = Field(JOINED, "string", indexing=[text, "index", "summary"], **bm25)
        joined.is_document_field = False
        out.append(joined)
    # Filled at indexing time from the text, outside the document.
    out.append(
        Field(
            TITLE_TOKENS,
            f"tensor<float>(d0[{length}])",
            indexing=[text, f"embed {EMBEDDER}", "attribute"],
            is_document_field=False,
        )
    )
    return out


def application(
    *,
    model_path: Path,
    params: VespaParams,
    bm25: tuple[float, float],
    length: int,
    manifest: dict[str, Any],
    fields: tuple[str, ...] = ("title",),
) -> ApplicationPackage:
    """`bm25`: (k1, b) of the first phase, the retrieve stage's; `fields`: data.text_fields."""
    ranked, _ = text_source(fields)
    logits = int(manifest["output"][OUTPUT]["shape"][1])
    inputs = [(QUERY_TENSOR, f"tensor<float>(d0[{params.query_tokens}])")]
    if len(manifest["template"]["middle"]) == 2:
        inputs.append((EMPTY_TENSOR, "tensor<float>(d0[1])", "[0]"))
    schema = Schema(
        SCHEMA,
        Document(fields=_document_fields(fields, length)),
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
                first_phase=f"bm25({ranked})",
                rank_properties=[
                    (f"bm25({ranked}).k1", repr(bm25[0])),
                    (f"bm25({ranked}).b", repr(bm25[1])),
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
