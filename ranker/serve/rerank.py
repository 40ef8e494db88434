"""Score and sort candidate titles for a query with the exported ONNX model (`Reranker`).

Needs only onnxruntime, tokenizers and numpy: it never imports torch or transformers, so it
runs wherever the search engine's ONNX model runs. The command line is ranker/serve/cli.py,
file-to-run-file scoring ranker/serve/batch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker.errors import RankerError
from ranker.serve.contract import (
    MODELS,
    OUTPUT,
    TOKENIZER,
    feeds,
    length_batches,
    pad_batch,
    relevance_scores,
)
from ranker.serve.runtime import (
    ModelFileError,
    inference_session,
    missing_model_file,
    verify_files,
    warn_if_int8_differs_here,
)


class RerankError(RankerError):
    """A problem the user can fix; printed as one line."""


@dataclass(frozen=True)
class Scored:
    title: str
    score: float


class Reranker:
    """Scores (query, title) pairs as the contract defines: `relevance_scores(logits)`."""

    def __init__(self, model_dir: str | Path, variant: str = "fp32", threads: int = 0) -> None:
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        model_path = model_dir / MODELS[variant]
        tokenizer_path = model_dir / TOKENIZER
        if not model_path.is_file():  # before the manifest: a folder never exported
            if variant == "int8" and (model_dir / MODELS["fp32"]).is_file():
                raise RerankError(
                    f"{model_path}: this export has no int8 model (its int8 failed the export "
                    "gate, or export.quantize was false: metrics/export.json, int8_gate); "
                    "score with model.onnx, without --int8"
                )
            raise RerankError(str(missing_model_file(model_path)))
        try:
            manifest = verify_files(model_dir, [MODELS[variant], TOKENIZER])
        except ModelFileError as exc:
            raise RerankError(str(exc)) from None
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # the tokenizers library raises its own, untyped errors
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "unreadable"
            raise RerankError(f"{tokenizer_path}: not a tokenizer file ({first})") from None
        self.tokenizer.enable_truncation(
            max_length=manifest["max_length"], strategy="longest_first"
        )
        self.tokenizer.no_padding()
        self.pad_id = manifest["template"]["pad_id"]
        try:
            self.session = inference_session(model_path, threads)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RerankError(f"{model_path}: not a valid ONNX model ({first})") from None
        if variant == "int8":
            warn_if_int8_differs_here(manifest, str(model_path))

    def scores(self, query: str, titles: list[str], batch_size: int = 32) -> np.ndarray:
        return self.score_pairs([(query, t) for t in titles], batch_size)

    def score_pairs(
        self, pairs: list[tuple[str, str]], batch_size: int = 32, by_length: bool = False
    ) -> np.ndarray:
        """Scores of (query, title) pairs in their order. `by_length`: batch pairs of similar
        token count together (less padding; the batch mode's throughput)."""
        if batch_size < 1:
            raise RerankError(f"batch size must be >= 1, got {batch_size}")
        encs = self.tokenizer.encode_batch(pairs)  # tokenizers' own threads
        # NaN until computed: a score that was never computed can never be printed.
        out = np.full(len(pairs), np.nan, dtype=np.float64)
        for idx in length_batches([len(e.ids) for e in encs], batch_size, by_length=by_length):
            rows = [(encs[i].ids, encs[i].attention_mask, encs[i].type_ids) for i in idx]
            logits = self.session.run([OUTPUT], feeds(self.session, pad_batch(rows, self.pad_id)))[
                0
            ]
            out[idx] = relevance_scores(logits)
        if not np.isfinite(out).all():
            bad = int((~np.isfinite(out)).sum())
            raise RerankError(f"the model returned {bad} non-finite score(s); not printing them")
        return out

    def rerank(self, query: str, titles: list[str], batch_size: int = 32) -> list[Scored]:
        if not query.strip():
            raise RerankError("empty query")
        if not titles:
            raise RerankError("no candidate titles (give them as arguments, --file, or on stdin)")
        scores = self.scores(query, titles, batch_size)
        order = np.argsort(-scores, kind="stable")
        return [Scored(titles[i], float(scores[i])) for i in order]
