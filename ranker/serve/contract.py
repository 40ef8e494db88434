"""The ONNX contract, declared once: what the exported graph takes and returns, what the
folder holds, and how a score is read from the logits.

Export writes to it, the gates check against it, the runtime and `ranker-rerank` read by
it; a search engine's rank profile references the same names. Imports only numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Inputs in graph order, each int64 [batch, sequence]: a model takes the first two, and
# token_type_ids where it has two token types (`ranker.model.families.model_inputs`).
ALL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# float32 [batch, 1] (`export.head: one_logit`, what rerankers serve) or [batch, 2].
OUTPUT = "logits"
AXES = ("batch", "sequence")
LABELS = {0: "irrelevant", 1: "relevant"}
SCORES = {1: "logits[:, 0]", 2: "logits[:, 1] - logits[:, 0]"}

# The exported folder.
FP32_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
MODELS = {"fp32": FP32_NAME, "int8": INT8_NAME}
TOKENIZER = "tokenizer.json"
VOCAB = "vocab.txt"
MANIFEST = "ranker.json"
# The manifest's own SHA-256, as `sha256sum` writes it (`sha256sum -c ranker.json.sha256`).
MANIFEST_SHA256 = "ranker.json.sha256"


def relevance_scores(logits: Any) -> Any:
    """Relevance per row of logits: the one logit of a [batch, 1] head, or logit(relevant)
    - logit(irrelevant) of a [batch, 2] one, the log-odds of "relevant" either way (the
    one-logit head is the two-logit head collapsed, `ranker.onnx.head`). Works on numpy
    arrays and torch tensors alike."""
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]


@dataclass(frozen=True)
class PairTemplate:
    """How the tokenizer lays out a pair: start + query + middle + title + end, each a run
    of special-token ids (BERT: [CLS] / [SEP] / [SEP]; RoBERTa: <s> / </s></s> / </s>),
    read from the tokenizer itself (`ranker.model.compat.pair_template`), never assumed."""

    start: tuple[int, ...]
    middle: tuple[int, ...]
    end: tuple[int, ...]
    pad_id: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": list(self.start),
            "middle": list(self.middle),
            "end": list(self.end),
            "pad_id": self.pad_id,
        }


def describe(inputs: Sequence[str], logits: int) -> dict[str, Any]:
    """The contract as the manifest (`ranker.json`) records it."""
    return {
        "inputs": {name: {"dtype": "int64", "shape": list(AXES)} for name in inputs},
        "output": {OUTPUT: {"dtype": "float32", "shape": [AXES[0], logits]}},
        "score": SCORES[logits],
        "labels": {str(k): v for k, v in LABELS.items()},
    }


def pad_batch(
    rows: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]],
    pad_id: int,
    length: int | None = None,
) -> dict[str, np.ndarray]:
    """(input_ids, attention_mask, token_type_ids) per pair -> every input a graph may
    take, padded (`feeds` picks a graph's own).

    Pads to `length`, default the longest row: padded positions get `pad_id`, mask 0 and
    type 0, as the tokenizer would.
    """
    width = length or max(len(ids) for ids, _, _ in rows)
    feeds = {name: np.zeros((len(rows), width), dtype=np.int64) for name in ALL_INPUTS}
    feeds["input_ids"].fill(pad_id)
    for i, (ids, mask, types) in enumerate(rows):
        n = len(ids)
        feeds["input_ids"][i, :n] = ids
        feeds["attention_mask"][i, :n] = mask
        feeds["token_type_ids"][i, :n] = types
    return feeds


def feeds(session: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays an ONNX Runtime session's graph takes, by its own input names."""
    return {i.name: arrays[i.name] for i in session.get_inputs()}


def length_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, *, by_length: bool = True
) -> Iterator[np.ndarray]:
    """Row indices, `batch_size` at a time, shortest rows first (a stable sort, so the same
    lengths always give the same batches): rows of similar length share a batch, which
    pads little. `by_length=False` keeps the rows' own order. Every loop that scores pairs
    batches through here, so they all see the same batches."""
    order = np.argsort(np.asarray(lengths), kind="stable") if by_length else np.arange(len(lengths))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
