"""The Vespa application package and the gate on Vespa-built inputs."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from ranker.config import EncodeParams, VespaParams
from ranker.errors import ExportError
from ranker.onnx.gates import frame_logits, ort_session, ranking_scores
from ranker.vespa import gate as gate_module
from ranker.vespa.gate import vespa_gate
from ranker.vespa.inputs import (
    embed_tokens,
    token_attention_mask,
    token_input_ids,
    token_type_ids,
)
from ranker.vespa.package import example_pairs

# --- Vespa's input features, worked by hand -------------------------------------------


def test_inputs_fit() -> None:
    q, t = [7, 8, 0, 0], [9, 0]
    assert token_input_ids(8, q, t).tolist() == [[101, 7, 8, 102, 9, 102, 0, 0]]
    assert token_type_ids(8, q, t).tolist() == [[0, 0, 0, 0, 1, 1, 0, 0]]
    assert token_attention_mask(8, q, t).tolist() == [[1, 1, 1, 1, 1, 1, 0, 0]]


def test_inputs_cut_from_the_end_not_longest_first() -> None:
    q, t = [7, 8], [9, 10, 11]
    # 1 + 2 + 1 + 3 + 1 = 8 tokens into 5: the title's tail and the last [SEP] are lost.
    assert token_input_ids(5, q, t).tolist() == [[101, 7, 8, 102, 9]]
    assert token_type_ids(5, q, t).tolist() == [[0, 0, 0, 0, 1]]
    assert token_attention_mask(5, q, t).tolist() == [[1, 1, 1, 1, 1]]


def test_input_length_counts_nonzero_and_takes_from_the_start() -> None:
    # Two tokens > 0, so the first two entries (7, 0) are taken, as Vespa's slice does.
    assert token_input_ids(6, [7, 0, 8], []).tolist() == [[101, 7, 0, 102, 102, 0]]
    assert token_type_ids(6, [7, 0, 8], [5]).tolist() == [[0, 0, 0, 0, 1, 1]]


def test_custom_ids_and_an_empty_input_double_the_separator() -> None:
    # RoBERTa's pair: <s> q </s></s> t </s>, as customTokenInputIds(0, 2, ...) builds it
    # with an all-zero input between query and title.
    q, empty, t = [7, 8, 0], [0], [9, 0]
    assert token_input_ids(9, q, empty, t, start=0, sep=2).tolist() == [[0, 7, 8, 2, 2, 9, 2, 0, 0]]
    assert token_attention_mask(9, q, empty, t).tolist() == [[1, 1, 1, 1, 1, 1, 1, 0, 0]]


def test_embed_keeps_the_first_tokens() -> None:
    assert embed_tokens([5, 6, 7], 2).tolist() == [5, 6]
    assert embed_tokens([5], 3).tolist() == [5, 0, 0]


# --- the gate, on the tiny exported model ------------------------------------------------


def _frame(onnx_dir: Path, pairs: list[tuple[str, str, int]], max_length: int) -> pd.DataFrame:
    from transformers import AutoTokenizer

    from ranker.model.encode import encode_frame

    df = pd.DataFrame(pairs, columns=["query", "title", "label"])
    # The tokenizer export shipped beside the ONNX files: what Vespa's component reads.
    tokenizer = AutoTokenizer.from_pretrained(str(onnx_dir))
    return encode_frame(df, tokenizer, EncodeParams(max_length=max_length)).to_pandas()


def _gate(onnx_dir: Path, frame: pd.DataFrame, length: int) -> dict:
    session = ort_session(onnx_dir / "model.onnx", 1)
    return vespa_gate(
        session=session,
        pipeline_scores=ranking_scores(frame_logits(session, frame, 0)),
        tokenizer_json=onnx_dir / "tokenizer.json",
        frame=frame,
        params=VespaParams(),
        length=length,
        k=10,
        manifest=json.loads((onnx_dir / "ranker.json").read_text()),
    )


PAIRS = [
    ("coronavirus origin", "Bat reservoirs of the pandemic virus", 1),
    ("coronavirus origin", "Hospital staffing in the pandemic", 0),
    ("school reopening", "Transmission in classrooms after pupils return", 1),
    ("school reopening", "Editorial", 0),
]


def test_gate_agrees_where_tokens_agree(onnx_dir: Path) -> None:
    frame = _frame(onnx_dir, PAIRS, 64)
    report = _gate(onnx_dir, frame, 64)
    assert report["same_tokens"] == 4 and report["tokens_differ"] == 0
    assert report["max_abs_diff_same_tokens"] < 1e-4
    assert report["queries_same_order"] == 1.0


def test_gate_reports_vespa_truncation(onnx_dir: Path) -> None:
    long_title = " ".join(["respiratory"] * 30)
    frame = _frame(onnx_dir, [*PAIRS, ("coronavirus origin", long_title, 0)], 16)
    report = _gate(onnx_dir, frame, 16)
    # Longest-first and Vespa's cut keep the same tokens here except for the final [SEP].
    assert report["tokens_differ"] == 1 and report["same_tokens"] == 4


def test_gate_fails_when_inputs_are_built_wrong(onnx_dir: Path, monkeypatch) -> None:
    frame = _frame(onnx_dir, PAIRS, 64)
    # A model that scores a pair differently once it is padded to the full length (the
    # risk the gate exists for: padding Vespa adds and the pipeline never evaluated).
    real = gate_module.ort_logits

    def padding_sensitive(session, arrays):
        logits = real(session, arrays)
        shifted = logits + np.array([0.0, 0.01], dtype=logits.dtype)
        return shifted if arrays["input_ids"].shape[1] == 64 else logits

    monkeypatch.setattr(gate_module, "ort_logits", padding_sensitive)
    with pytest.raises(ExportError, match=r"vespa gate failed: .* > vespa\.atol"):
        _gate(onnx_dir, frame, 64)


# --- the package the pipeline wrote --------------------------------------------------------


def test_examples_come_from_the_data() -> None:
    frame = pd.DataFrame({
        "query": ["b q", "b q", "a q", "a q", "a q"],
        "title": ["t1", "t2", "it's irrelevant", "relevant 'one'", "relevant two"],
        "label": [1, 0, 0, 1, 1],
    })  # fmt: skip
    assert example_pairs(frame) == ("a q", ["relevant 'one'", "it's irrelevant"])
    assert example_pairs(frame.assign(label=1)) == ("b q", ["t1"])


def test_package_is_complete_and_matches_the_graph(pipeline_repo: Path) -> None:
    package = pipeline_repo / "models/vespa"
    services = ET.parse(package / "services.xml").getroot()
    component = services.find("./container/component")
    assert component is not None and component.get("type") == "hugging-face-tokenizer"
    assert (package / component.find("model").get("path")).is_file()
    assert component.findtext("add-special-tokens") == "false"
    assert services.find("./content/documents/document").get("type") == "doc"

    schema = (package / "schemas/doc.sd").read_text()
    model_file = re.search(r"file: (\S+)", schema).group(1)
    graph = onnx.load(str(package / model_file)).graph
    declared_inputs = set(re.findall(r"input (\w+): (\w+)", schema))
    assert declared_inputs == {(i.name, i.name) for i in graph.input}
    assert re.findall(r"output (\w+): \w+", schema) == [o.name for o in graph.output]
    for name, feature in (
        ("input_ids", "tokenInputIds"),
        ("token_type_ids", "tokenTypeIds"),
        ("attention_mask", "tokenAttentionMask"),
    ):
        assert re.search(rf"function {name}\(\) {{\s+expression {{\s+{feature}\(64,", schema), name
    # export.head: one_logit, the score itself.
    assert (
        "global-phase {\n            expression {\n                onnx(ranker).logits{d0:0,d1:0}\n"
        in schema
    )
    assert "first-phase {\n            expression {\n                bm25(title)" in schema
    assert "rerank-count: 100" in schema
    # The first phase is the retrieve stage's BM25: same k1 and b, no stemming.
    assert 'bm25(title).k1: "1.2"' in schema and 'bm25(title).b: "0.75"' in schema
    assert re.search(r"field title type string \{[^}]*stemming: none", schema)
    # The packaged model is byte for byte the exported one the gates passed.
    assert (package / model_file).read_bytes() == (
        pipeline_repo / "models/onnx/model.onnx"
    ).read_bytes()
    readme = (package / "README.md").read_text()
    assert "vespa deploy" in readme and "input.query(q)=embed(tokenizer, @query)" in readme
    # Its examples are the user's data: a validation query and its titles, shell-quoted.
    valid = pd.read_csv(pipeline_repo / "data/split/valid.csv")
    query, titles = example_pairs(valid)
    assert f"-q {shlex.quote(query)} {' '.join(shlex.quote(t) for t in titles)}" in readme
    assert shlex.quote(f"query={query}") in readme
    assert "'type=any'" in readme
    gate = json.loads((pipeline_repo / "metrics/export.json").read_text())["vespa"]
    assert gate["built"] and gate["pairs"] > 0
    assert gate["max_abs_diff_same_tokens"] <= gate["atol"]
