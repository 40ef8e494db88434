"""Every check a later stage would make on the model and its tokenizer, run at encode: the
architecture, the inputs, the pair template and its special ids, the vocabulary against
the embedding table, `encode.max_length` against the positions, and what the Vespa
package needs. A model that cannot work fails here, before any training; one whose Vespa
package cannot be built is recorded so (`vespa`), and export still writes its ONNX.

Imports neither torch nor the model's weights: the config and the tokenizer decide.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ranker.errors import ModelError
from ranker.model.families import family_of, max_positions, model_inputs
from ranker.model.tokenizer import resolve_model
from ranker.serve.contract import PairTemplate

log = logging.getLogger(__name__)

# Two texts every vocabulary splits into ordinary tokens (a byte-level one into bytes).
PROBE = ("covid vaccine trial", "masks and transmission")


def load_config(name: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolve_model(name), trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        first = f"model.name: cannot read the config of {name!r}: {exc}".split("\n")[0]
        raise ModelError(first) from None


def _find(ids: list[int], part: list[int], start: int) -> int:
    for i in range(start, len(ids) - len(part) + 1):
        if ids[i : i + len(part)] == part:
            return i
    return -1


def pair_template(tokenizer: Any, name: str) -> PairTemplate:
    """The special ids the tokenizer puts around a pair, read off a real pair."""
    query, title = PROBE
    pair = list(tokenizer(query, title)["input_ids"])
    q = list(tokenizer(query, add_special_tokens=False)["input_ids"])
    t = list(tokenizer(title, add_special_tokens=False)["input_ids"])
    at_q = _find(pair, q, 0)
    at_t = _find(pair, t, at_q + len(q)) if at_q >= 0 else -1
    if at_t < 0 or not q or not t:
        raise ModelError(
            f"model.name: the tokenizer of {name!r} does not lay a pair out as "
            "specials + query + specials + title + specials; cannot build its inputs"
        )
    if tokenizer.pad_token_id is None:
        raise ModelError(f"model.name: the tokenizer of {name!r} has no pad token")
    return PairTemplate(
        start=tuple(pair[:at_q]),
        middle=tuple(pair[at_q + len(q) : at_t]),
        end=tuple(pair[at_t + len(t) :]),
        pad_id=int(tokenizer.pad_token_id),
    )


def vespa_blocker(template: PairTemplate, inputs: tuple[str, ...], tokenizer: Any) -> str | None:
    """Why Vespa's `customTokenInputIds` cannot build this model's input, or None.

    It lays out start + input_1 + sep + input_2 + sep and counts an input's length as its
    ids > 0: so one start id, one end id, a middle of that sep once or twice (twice: an
    empty input between query and title), type ids BERT's way, and no ordinary token 0."""
    if len(template.start) != 1 or len(template.end) != 1:
        return f"the pair starts with {list(template.start)} and ends with {list(template.end)}"
    sep = template.end[0]
    if template.middle not in ((sep,), (sep, sep)):
        return (
            f"query and title are joined by {list(template.middle)}, not by {sep} (once or twice)"
        )
    if "token_type_ids" in inputs and template.middle != (sep,):
        return "token types after a doubled separator are not Vespa's tokenTypeIds"
    zero = tokenizer.convert_ids_to_tokens(0)
    if zero not in tokenizer.all_special_tokens:
        return f"id 0 is the ordinary token {zero!r}, which Vespa reads as the end of an input"
    return None


def check_model(name: str, tokenizer: Any, max_length: int) -> dict[str, Any]:
    """Everything later stages need of `model.name`, checked; the record encode keeps."""
    config = load_config(name)
    family = family_of(config, name)
    inputs = model_inputs(config)
    template = pair_template(tokenizer, name)
    vocab = int(config.vocab_size)
    if len(tokenizer) > vocab:
        raise ModelError(
            f"model.name: the tokenizer of {name!r} has {len(tokenizer)} tokens but the "
            f"model's embedding table {vocab} rows: ids past {vocab - 1} would fail in ONNX"
        )
    special = [*template.start, *template.middle, *template.end, template.pad_id]
    if max(special) >= vocab or min(special) < 0:
        raise ModelError(f"model.name: {name!r} has special ids {special} outside [0, {vocab})")
    positions = max_positions(config)
    if max_length > positions:
        raise ModelError(
            f"encode.max_length: {max_length} is more than the {positions} positions "
            f"{name!r} ({config.model_type}) has"
        )
    probe = tokenizer(*PROBE, add_special_tokens=False)["input_ids"]
    if probe and set(probe) <= {tokenizer.unk_token_id}:
        raise ModelError(
            f"model.name: the tokenizer of {name!r} maps plain English to its unknown token "
            f"{tokenizer.unk_token!r}: not the tokenizer this model was trained with"
        )
    blocker = vespa_blocker(template, inputs, tokenizer)
    if blocker:
        log.warning("no Vespa package for %s (%s): %s", name, config.model_type, blocker)
    return {
        "model_type": config.model_type,
        "family": family.name,
        "inputs": list(inputs),
        "template": template.to_json(),
        "max_positions": positions,
        "vespa": {"possible": blocker is None, "reason": blocker},
    }


def model_files(name: str) -> dict[str, str]:
    """SHA-256 of every file of the base model as loaded: a local directory's, the packaged
    model's, or a hub id's cached snapshot ({} when the hub serves it uncached)."""
    from ranker.files import sha256_file

    source = Path(resolve_model(name))
    if not source.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name, "config.json")
        except Exception:
            cached = None
        if not isinstance(cached, str):
            return {}
        source = Path(cached).parent
    return {
        str(p.relative_to(source)): sha256_file(p)
        for p in sorted(source.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
    }


def describe_base(name: str, tokenizer: Any, max_length: int) -> dict[str, Any]:
    """The base stage's record: `check_model`'s, and the hashes of the files it loads."""
    record = check_model(name, tokenizer, max_length)
    files = model_files(name)
    if not files:
        log.warning("model.name %s: hub files not cached, so not hashed here", name)
    return {**record, "files": files}
