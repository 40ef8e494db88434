"""Vespa's `customTokenInputIds` (and `tokenInputIds`, its BERT case), `tokenTypeIds` and
`tokenAttentionMask`, re-implemented in numpy.

Semantics from Vespa's documentation (reference/rank-features: "tokenInputIds(length,
input_1, input_2, ...)") and its implementation, config-model's TokenTransformer
(vespa-engine/vespa, config-model/src/main/java/com/yahoo/schema/expressiontransforms/
TokenTransformer.java), which rewrites each feature into a tensor generate expression:

- each input is a zero-padded token tensor; its length n is the count of tokens > 0, and
  its first n entries are used;
- the sequence is start + input_1 + sep + input_2 + sep + ..., then 0s, in a
  tensor(d0[1],d1[length]) (`customTokenInputIds(start, sep, length, ...)`;
  `tokenInputIds` is start = [CLS] = 101, sep = [SEP] = 102): what does not fit in
  `length` is cut from the end (no longest-first truncation; the last sep can be cut too);
- an empty input adds only its sep: RoBERTa's `</s></s>` between query and title is an
  empty input between them;
- type ids are 0 over CLS + input_1 + SEP and 1 over the rest of the sequence, 0 after;
- the attention mask is 1 over the whole sequence, 0 after.

The token tensors come from a `hugging-face-tokenizer` component with special tokens off:
`embed(tokenizer, text)` into `tensor(d0[n])` keeps the first n tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLS, SEP = 101, 102


def _tokens(inputs: Sequence[Sequence[int]]) -> list[np.ndarray]:
    # Vespa's length of an input is its count of tokens > 0, and it takes that many
    # entries from the input's start (zeros inside would be taken, tokens after cut).
    arrays = [np.asarray(t, dtype=np.int64) for t in inputs]
    return [a[: int((a > 0).sum())] for a in arrays]


def _layout(
    length: int, inputs: Sequence[Sequence[int]], start: int, sep: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, segment) over the whole sequence before the cut at `length`."""
    ids, segment = [start], [0]
    for i, tokens in enumerate(_tokens(inputs)):
        part = [*tokens.tolist(), sep]
        ids += part
        segment += [0 if i == 0 else 1] * len(part)
    return np.array(ids[:length], dtype=np.int64), np.array(segment[:length], dtype=np.int64)


def token_input_ids(
    length: int, *inputs: Sequence[int], start: int = CLS, sep: int = SEP
) -> np.ndarray:
    """customTokenInputIds(start, sep, length, input_1, ...): shape [1, length]."""
    ids, _ = _layout(length, inputs, start, sep)
    return np.pad(ids, (0, length - ids.size))[None, :]


def token_type_ids(length: int, *inputs: Sequence[int]) -> np.ndarray:
    """tokenTypeIds(length, input_1, ...): shape [1, length]."""
    _, segment = _layout(length, inputs, CLS, SEP)
    return np.pad(segment, (0, length - segment.size))[None, :]


def token_attention_mask(length: int, *inputs: Sequence[int]) -> np.ndarray:
    """tokenAttentionMask(length, input_1, ...): shape [1, length]."""
    ids, _ = _layout(length, inputs, CLS, SEP)
    return np.pad(np.ones_like(ids), (0, length - ids.size))[None, :]


def embed_tokens(ids: Sequence[int], size: int) -> np.ndarray:
    """`embed(tokenizer, text)` into tensor(d0[size]): the first `size` ids, zero-padded."""
    out = np.zeros(size, dtype=np.int64)
    kept = np.asarray(ids[:size], dtype=np.int64)
    out[: kept.size] = kept
    return out
