"""The encoder families the pipeline supports, declared once (as optimum declares its ONNX
configs per architecture): what each takes as input, where its positions start, and which
ONNX Runtime fusions and training speed-ups apply. Imports neither torch nor transformers:
the encode stage checks a model against this table before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ranker.errors import ModelError


@dataclass(frozen=True)
class Family:
    name: str
    # The forward takes token_type_ids; they become an ONNX input only where the model has
    # two or more token types (RoBERTa, XLM-R and DeBERTa-v3 have one or none: always 0).
    token_types: bool
    # Positions count from padding_idx + 1 (RoBERTa's embeddings), so that many slots of
    # the position table are never a token's.
    positions_after_pad: bool = False


FAMILIES: dict[str, Family] = {
    "bert": Family("BERT", token_types=True),
    "electra": Family("ELECTRA", token_types=True),
    "distilbert": Family("DistilBERT", token_types=False),
    "roberta": Family("RoBERTa", token_types=True, positions_after_pad=True),
    "xlm-roberta": Family("XLM-RoBERTa", token_types=True, positions_after_pad=True),
    "deberta-v2": Family("DeBERTa-v2/v3", token_types=True),
    "modernbert": Family("ModernBERT", token_types=False),
}


def family_of(config: Any, name: str) -> Family:
    """The family of a model's config; one line naming `model.name` and what is supported
    for any other architecture."""
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(str(model_type))
    if family is None:
        raise ModelError(
            f"model.name: {name!r} is a {model_type!r} model; supported model types: "
            + ", ".join(FAMILIES)
        )
    return family


def model_inputs(config: Any) -> tuple[str, ...]:
    """The ONNX inputs of a model, in graph order: the contract follows the model."""
    family = FAMILIES[config.model_type]
    types = family.token_types and int(getattr(config, "type_vocab_size", 0) or 0) >= 2
    return ("input_ids", "attention_mask", *(("token_type_ids",) if types else ()))


def max_positions(config: Any) -> int:
    """Tokens a pair may hold: the position table, less the slots RoBERTa never uses."""
    table = int(config.max_position_embeddings)
    if FAMILIES[config.model_type].positions_after_pad:
        table -= int(config.pad_token_id or 0) + 1
    return table
