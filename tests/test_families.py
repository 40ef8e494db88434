"""Every supported encoder family end to end below training: the checks encode runs, export
with the parity and int8 gates, the one-logit head, the Vespa input gate and package, and
`ranker-rerank` on the exported folder; tiny random models with tokenizers trained here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import LENIENT_INT8, ROOT, tool_env
from tests.families import FAMILIES, MULTILINGUAL, build_family

# What each family's pair looks like to Vespa: (start, middle, end) as tokens.
TEMPLATES = {
    "bert": ("[CLS]", "[SEP]", "[SEP]"),
    "distilbert": ("[CLS]", "[SEP]", "[SEP]"),
    "electra": ("[CLS]", "[SEP]", "[SEP]"),
    "roberta": ("<s>", "</s></s>", "</s>"),
    "xlm-roberta": ("<s>", "</s></s>", "</s>"),
    "deberta-v2": ("[CLS]", "[SEP]", "[SEP]"),
    "modernbert": ("[CLS]", "[SEP]", "[SEP]"),
}
TYPED = {"bert", "electra"}


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.families import corpus_texts

    texts = corpus_texts()
    root = tmp_path_factory.mktemp("families")
    return {f: build_family(f, root / f, texts) for f in FAMILIES}


def _frame(tokenizer: Any) -> pd.DataFrame:
    from ranker.config import EncodeParams
    from ranker.data.sample import generate_sample
    from ranker.model.encode import encode_frame

    sample = generate_sample(12).head(60)
    extra = pd.DataFrame(
        {
            "query": ["coronavirus transmission"] * len(MULTILINGUAL),
            "title": MULTILINGUAL,
            "label": [i % 2 for i in range(len(MULTILINGUAL))],
        }
    )
    pairs = pd.concat([sample[["query", "title", "label"]], extra], ignore_index=True)
    return encode_frame(pairs, tokenizer, EncodeParams(max_length=64)).to_pandas()


def _export(model_dir: Path, out: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    from ranker.config import EncodeParams, ExportParams, VespaParams
    from ranker.model.modeling import load_classifier
    from ranker.model.tokenizer import load_tokenizer
    from ranker.onnx.export import staged_export
    from ranker.vespa.build import run_vespa

    tokenizer = load_tokenizer(str(model_dir))
    frame = _frame(tokenizer)
    encode = EncodeParams(max_length=64)
    with staged_export(
        model=load_classifier(str(model_dir), 0),
        tokenizer=tokenizer,
        frame=frame,
        calibration_frame=frame,
        encode=encode,
        params=ExportParams(**LENIENT_INT8),
        k=10,
        seed=0,
        threads=1,
        out_dir=out / "onnx",
        reranker_dir=out / "reranker",
    ) as staged:
        staged.metrics["vespa"] = run_vespa(
            staged,
            frame=frame,
            # int8 served: its scores must not depend on the batch, or the gate fails.
            params=VespaParams(model="int8"),
            bm25=(1.2, 0.75),
            length=encode.max_length,
            k=10,
            out_dir=out / "vespa",
        )
        scores = staged.scores["fp32"]
    manifest = json.loads((out / "onnx" / "ranker.json").read_text())
    return staged.metrics, manifest, frame.assign(score=scores)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_exports_passes_every_gate_and_serves(
    family: str, family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    from ranker.model.compat import check_model
    from ranker.model.tokenizer import load_tokenizer

    model_dir = family_dirs[family]
    tokenizer = load_tokenizer(str(model_dir))
    info = check_model(str(model_dir), tokenizer, 64)
    start, middle, end = (tokenizer.convert_ids_to_tokens(info["template"][k]) for k in
                          ("start", "middle", "end"))  # fmt: skip
    assert ("".join(start), "".join(middle), "".join(end)) == TEMPLATES[family]
    assert info["vespa"] == {"possible": True, "reason": None}

    metrics, manifest, frame = _export(model_dir, tmp_path)
    inputs = ["input_ids", "attention_mask", *(["token_type_ids"] if family in TYPED else [])]
    assert manifest["inputs"] == {k: {"dtype": "int64", "shape": ["batch", "sequence"]}
                                  for k in inputs}  # fmt: skip
    assert manifest["output"]["logits"]["shape"] == ["batch", 1]
    assert manifest["model_type"] == family
    assert metrics["parity"]["passed"] and metrics["head"]["passed"]
    assert metrics["head"]["max_abs_diff"] <= metrics["head"]["atol"]
    assert metrics["int8_gate"]["decision"] == "accepted" and "int8" in metrics
    for variant in ("fp32", "int8"):
        assert metrics["batch"][variant]["max_abs_diff"] <= metrics["batch"][variant]["atol"]
    import onnx

    graph = onnx.load(str(tmp_path / "onnx" / "model.int8.onnx")).graph
    # Static QDQ in standard ops, the feed-forward activation's projection kept in fp32.
    assert {n.domain for n in graph.node} <= {"", "ai.onnx"}
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    assert metrics["int8_quantization"]["fp32_projections"] > 0
    vespa = metrics["vespa"]
    assert vespa["built"] and vespa["model"] == "int8" and vespa["same_tokens"] > 0
    assert vespa["max_abs_diff_same_tokens"] <= vespa["atol"]
    schema = (tmp_path / "vespa" / "schemas" / "doc.sd").read_text()
    assert ("token_type_ids" in schema) == (family in TYPED)
    if TEMPLATES[family][1] == "</s></s>":
        assert "query(empty)" in schema and "customTokenInputIds(" in schema

    # ranker-rerank on the folder, on the German, Chinese and Arabic titles: the
    # pipeline's fp32 scores, without torch or transformers.
    rows = frame[frame["title"].isin(MULTILINGUAL)]
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK, "-m", str(tmp_path / "onnx"), "-q",
         "coronavirus transmission", "--json", *rows["title"]],
        capture_output=True, text=True, env=tool_env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = {r["title"]: r["score"] for r in json.loads(proc.stdout)["results"]}
    want = dict(zip(rows["title"], rows["score"], strict=True))
    np.testing.assert_allclose([got[t] for t in want], list(want.values()), atol=1e-4)

    # The exported checkpoint is a reranker to sentence-transformers: rank() gives the
    # CLI's scores (one raw logit, no sigmoid).
    from sentence_transformers import CrossEncoder

    ranked = CrossEncoder(str(tmp_path / "reranker"), device="cpu").rank(
        "coronavirus transmission", list(want)
    )
    titles = list(want)
    by_st = {titles[r["corpus_id"]]: float(r["score"]) for r in ranked}
    np.testing.assert_allclose([by_st[t] for t in want], [got[t] for t in want], atol=1e-4)


BLOCK = (
    "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
    "from ranker.serve.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _train(model_dir: Path, out: Path, fingerprint: str | None = None) -> dict[str, Any]:
    from ranker.config import EncodeParams, RunParams, SplitParams, TrainParams
    from ranker.data.sample import generate_sample
    from ranker.data.split import split_pairs
    from ranker.model.encode import encode_frame
    from ranker.model.tokenizer import load_tokenizer
    from ranker.model.train import train_model

    tokenizer = load_tokenizer(str(model_dir))
    parts = split_pairs(generate_sample(pairs_per_query=10), SplitParams())
    enc = EncodeParams(max_length=64)
    return train_model(
        model_name=str(model_dir),
        tokenizer=tokenizer,
        train_df=encode_frame(parts["train"], tokenizer, enc).to_pandas(),
        valid_df=encode_frame(parts["valid"], tokenizer, enc).to_pandas(),
        params=TrainParams(epochs=2.0, learning_rate=1e-3, batch_size=32),
        run=RunParams(threads=1),
        encode=enc,
        k=10,
        out_dir=out / "model",
        live_dir=out / "live",
        metrics_path=out / "train.json",
        fingerprint=fingerprint,
    )


class Killed(Exception):
    """Stands for a kill right after the first epoch's checkpoint is complete."""


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_and_resumes_to_the_same_weights(
    family: str, family_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the defaults (frozen word embeddings, [CLS]-only last layer where the family
    has it): training runs, and a run killed after epoch 1 resumes to the weights of one
    that never stopped."""
    from ranker.model import checkpoints

    monkeypatch.chdir(tmp_path)
    whole = _train(family_dirs[family], tmp_path / "whole")
    real = checkpoints.mark_complete_callback

    class KillAfterFirstSave(type(real())):  # type: ignore[misc]
        def on_save(self, args, state, control, **kwargs):
            super().on_save(args, state, control, **kwargs)
            raise Killed

    monkeypatch.setattr(checkpoints, "mark_complete_callback", KillAfterFirstSave)
    with pytest.raises(Killed):
        _train(family_dirs[family], tmp_path / "resumed", fingerprint="same inputs")
    monkeypatch.setattr(checkpoints, "mark_complete_callback", real)
    resumed = _train(family_dirs[family], tmp_path / "resumed", fingerprint="same inputs")
    assert resumed == whole
    weights = [(tmp_path / run / "model" / "model.safetensors").read_bytes()
               for run in ("whole", "resumed")]  # fmt: skip
    assert weights[0] == weights[1]


# --- what encode refuses, before anything trains -------------------------------------------


def test_an_unsupported_architecture_fails_in_one_line_naming_what_is(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    import transformers as tf

    from ranker.errors import ModelError
    from ranker.model.compat import check_model
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(family_dirs["bert"]))
    tf.AlbertConfig(vocab_size=len(tokenizer), hidden_size=32, num_attention_heads=2,
                    intermediate_size=64, embedding_size=16).save_pretrained(tmp_path)  # fmt: skip
    with pytest.raises(ModelError) as info:
        check_model(str(tmp_path), tokenizer, 64)
    message = str(info.value)
    assert "\n" not in message and repr(str(tmp_path)) in message and "'albert'" in message
    assert "supported model types: bert, electra, distilbert, roberta" in message


def test_a_tokenizer_the_model_cannot_embed_fails_at_encode(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """More tokens than embedding rows (an id past the table fails deep in ONNX Runtime),
    a vocabulary that knows no English, and a max_length past the positions."""
    import transformers as tf

    from ranker.errors import ModelError
    from ranker.model.compat import check_model
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(family_dirs["roberta"]))
    small = tmp_path / "small"
    tf.RobertaConfig(vocab_size=50, hidden_size=32, num_attention_heads=2,
                     intermediate_size=64).save_pretrained(small)  # fmt: skip
    with pytest.raises(ModelError, match=r"has \d+ tokens but the model's embedding table 50 rows"):
        check_model(str(small), tokenizer, 64)
    # 514 positions less RoBERTa's padding_idx + 1 = 512 tokens.
    with pytest.raises(ModelError, match=r"encode.max_length: 513 is more than the 512 positions"):
        check_model(str(family_dirs["roberta"]), tokenizer, 513)
    specials = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
    unknown = tf.BertTokenizer(vocab=specials)
    with pytest.raises(ModelError, match=r"maps plain English to its unknown token '\[UNK\]'"):
        check_model(str(family_dirs["bert"]), unknown, 64)


def test_a_template_vespa_cannot_lay_out_is_named() -> None:
    from ranker.model.compat import vespa_blocker
    from ranker.serve.contract import PairTemplate

    class Tok:
        def __init__(self, specials: list[str]) -> None:
            self.all_special_tokens = specials

        def convert_ids_to_tokens(self, i: int) -> str:
            return "[PAD]" if i == 0 else "the"

    two_starts = PairTemplate(start=(5, 6), middle=(3,), end=(3,), pad_id=0)
    pad = Tok(["[PAD]"])
    assert "starts with [5, 6]" in vespa_blocker(two_starts, ("input_ids",), pad)
    joined = PairTemplate(start=(2,), middle=(7,), end=(3,), pad_id=0)
    assert "joined by [7], not by 3" in vespa_blocker(joined, ("input_ids",), pad)
    ok = PairTemplate(start=(2,), middle=(3, 3), end=(3,), pad_id=0)
    assert vespa_blocker(ok, ("input_ids", "attention_mask"), pad) is None
    assert "doubled separator" in vespa_blocker(ok, ("token_type_ids",), pad)
    assert "id 0 is the ordinary token '[PAD]'" in vespa_blocker(ok, ("input_ids",), Tok([]))


def test_without_a_vespa_package_the_onnx_is_still_written(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    from ranker.config import VespaParams
    from ranker.onnx.export import StagedExport
    from ranker.vespa.build import run_vespa

    def staged(possible: dict[str, Any]) -> StagedExport:
        return StagedExport(dir=tmp_path, metrics={}, sessions={}, scores={}, vespa=possible)

    report = run_vespa(staged({"possible": False, "reason": "id 0 is 'the'"}),
                       frame=pd.DataFrame(), params=VespaParams(), bm25=(1.2, 0.75), length=64, k=10,
                       out_dir=tmp_path / "vespa")  # fmt: skip
    assert report == {
        "built": False,
        "reason": "Vespa's customTokenInputIds cannot build this model's input: id 0 is 'the'",
    }
    assert [p.name for p in (tmp_path / "vespa").iterdir()] == ["README.md"]
    assert "id 0 is 'the'" in (tmp_path / "vespa" / "README.md").read_text()
    off = run_vespa(staged({"possible": True, "reason": None}),
                    frame=pd.DataFrame(), params=VespaParams(enabled=False), bm25=(1.2, 0.75),
                    length=64, k=10, out_dir=tmp_path / "off")  # fmt: skip
    assert off == {"built": False, "reason": "vespa.enabled is false"}


def test_a_local_model_directory_must_be_its_files_dep(family_dirs: dict[str, Path]) -> None:
    from ranker.config import parse_params
    from ranker.errors import ParamError

    local = str(family_dirs["bert"])
    with pytest.raises(ParamError, match=r"set model\.files: .* too, so that DVC reruns"):
        parse_params({"model": {"name": local}})
    assert parse_params({"model": {"name": local, "files": local}}).model.files == local


def test_the_one_logit_head_is_the_two_logit_score(family_dirs: dict[str, Path]) -> None:
    import torch

    from ranker.model.modeling import load_classifier
    from ranker.onnx.head import collapse_to_one_logit

    for family in ("bert", "roberta", "distilbert"):
        two = load_classifier(str(family_dirs[family]), 0).eval()
        ids = torch.tensor([[2, 10, 11, 3, 12, 3]])
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            logits = two(input_ids=ids, attention_mask=mask).logits
            one = collapse_to_one_logit(two)(input_ids=ids, attention_mask=mask).logits
        assert one.shape == (1, 1) and two.config.num_labels == 1
        torch.testing.assert_close(one[:, 0], logits[:, 1] - logits[:, 0], rtol=0, atol=1e-6)
