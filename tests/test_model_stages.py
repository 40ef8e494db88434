"""Code tests of model resolution, encoding and training on the tiny model."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, SplitParams, TrainParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.errors import ModelError
from ranker.model.encode import encode_frame, run_encode
from ranker.model.frozen import freeze_base
from ranker.model.modeling import load_classifier
from ranker.model.tokenizer import packaged_model_dir, resolve_model
from ranker.model.train import train_model


def test_packaged_model_resolves_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model(PACKAGED_MODEL_ID) == str(packaged_model_dir())


def test_unreachable_hub_fails_fast_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        resolve_model("google/bert_uncased_L-4_H-512_A-8")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "cannot reach the Hugging Face Hub" in message and PACKAGED_MODEL_ID in message
    assert "\n" not in message


def test_local_directory_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"has no config\.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="neither an existing directory nor a hub id"):
        resolve_model(str(tmp_path / "missing"))


def test_encode_longest_stores_unpadded_pairs(tiny_model_dir: Path) -> None:
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    df = pd.DataFrame(
        {"query": ["covid masks"], "title": ["face coverings reduce spread"], "label": [1]}
    )
    row = encode_frame(df, tokenizer, EncodeParams(max_length=128)).to_pylist()[0]
    tokens = tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
    assert "[PAD]" not in tokens
    # Segment 1 starts after the first [SEP].
    first_sep = tokens.index("[SEP]")
    assert set(row["token_type_ids"][: first_sep + 1]) == {0} and set(
        row["token_type_ids"][first_sep + 1 :]
    ) == {1}
    fixed = encode_frame(
        df, tokenizer, EncodeParams(max_length=16, padding="max_length")
    ).to_pylist()[0]
    assert len(fixed["input_ids"]) == 16 and fixed["attention_mask"][-1] == 0


def test_encode_truncates_to_max_length(tiny_model_dir: Path, tmp_path: Path) -> None:
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    df = pd.DataFrame({"query": ["q"], "title": ["word " * 300], "label": [0]})
    meta = run_encode({"valid": df}, tokenizer, EncodeParams(max_length=32), tmp_path / "enc")
    assert meta["splits"]["valid"]["max_tokens"] == 32 and meta["splits"]["valid"]["truncated"] == 1


def test_freeze_base_leaves_only_the_head(tiny_model_dir: Path) -> None:
    model = load_classifier(str(tiny_model_dir), 0)
    trainable = freeze_base(model)
    head = sum(p.numel() for p in model.classifier.parameters())
    assert trainable == head


def _train(tiny_model_dir: Path, out: Path, **overrides) -> dict:
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    pairs = generate_sample(pairs_per_query=10)
    parts = split_pairs(pairs, SplitParams())
    train_df, valid_df = parts["train"], parts["valid"]
    enc = EncodeParams(max_length=64)
    threads = overrides.pop("threads", 1)
    params = TrainParams(**{"epochs": 2.0, "learning_rate": 1e-3, "batch_size": 32, **overrides})
    return train_model(
        model_name=str(tiny_model_dir),
        tokenizer=tokenizer,
        train_df=encode_frame(train_df, tokenizer, enc).to_pandas(),
        valid_df=encode_frame(valid_df, tokenizer, enc).to_pandas(),
        params=params,
        run=RunParams(threads=threads),
        encode=enc,
        k=10,
        out_dir=out / "model",
        live_dir=out / "live",
        metrics_path=out / "train.json",
    )


def test_frozen_word_embeddings_stay_pretrained_and_the_rest_trains(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    before = load_classifier(str(tiny_model_dir), 0).state_dict()
    _train(tiny_model_dir, tmp_path, freeze_word_embeddings=True)
    after = load_file(tmp_path / "model" / "model.safetensors")
    changed = {k for k, v in after.items() if not torch.equal(v, before[k])}
    assert "bert.embeddings.word_embeddings.weight" not in changed
    assert "bert.embeddings.position_embeddings.weight" in changed
    assert "classifier.weight" in changed and any(".encoder.layer." in k for k in changed)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_is_deterministic_and_keeps_best_epoch(
    tiny_model_dir: Path, tmp_path: Path, precision: str
) -> None:
    a = _train(tiny_model_dir, tmp_path / "a", precision=precision)
    b = _train(tiny_model_dir, tmp_path / "b", precision=precision)
    for key in ("train_loss", "best_epoch", "best_ndcg@10"):
        assert a[key] == b[key], key
    curve = "live/plots/metrics/eval/ndcg@10.tsv"
    assert (tmp_path / "a" / curve).read_bytes() == (tmp_path / "b" / curve).read_bytes()
    ndcg = pd.read_csv(tmp_path / "a" / curve, sep="\t")
    assert len(ndcg) == 2, "one validation per epoch"
    assert a["best_ndcg@10"] == ndcg["ndcg@10"].max()
    model_dir = tmp_path / "a/model"
    assert (model_dir / "model.safetensors").is_file() and not (
        model_dir / "training_args.bin"
    ).exists()
    assert json.loads((tmp_path / "a/live/metrics.json").read_text())
    assert not list(tmp_path.glob("a/.model*")), "no temporary directories left"


def test_validation_metric_during_training_is_the_saved_models(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The best epoch's nDCG@10 is the one the kept model gets when scored afresh: the
    Trainer's predictions are matched to the right rows (transformers v5 reorders
    evaluation batches by length unless told not to)."""
    from ranker.evaluation.ranking import frame_ranking
    from ranker.model.batches import make_collator
    from ranker.model.modeling import load_classifier
    from ranker.model.predict import predict_scores
    from ranker.model.tokenizer import load_tokenizer

    # Pointwise: the objective whose training batches group by length.
    metrics = _train(tiny_model_dir, tmp_path, group_by_length=True, loss="pointwise")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    valid = split_pairs(generate_sample(pairs_per_query=10), SplitParams())["valid"]
    frame = encode_frame(valid, tokenizer, EncodeParams(max_length=64)).to_pandas()
    model = load_classifier(str(tmp_path / "model"), 0)
    scores = predict_scores(model, frame, make_collator(tokenizer, EncodeParams(max_length=64)), 64)
    assert frame_ranking(frame, scores, 10)["ndcg@10"] == pytest.approx(
        metrics["best_ndcg@10"], abs=1e-6
    )


@pytest.mark.parametrize("loss", ["pointwise", "listwise"])
def test_saved_model_scores_the_same_in_sentence_transformers(
    tiny_model_dir: Path, tmp_path: Path, loss: str
) -> None:
    from ranker.model.batches import make_collator
    from ranker.model.predict import predict_scores
    from ranker.model.tokenizer import load_tokenizer

    CrossEncoder = pytest.importorskip("sentence_transformers").CrossEncoder
    _train(tiny_model_dir, tmp_path, epochs=1.0, loss=loss)
    encode = EncodeParams(max_length=64)
    tokenizer = load_tokenizer(str(tmp_path / "model"))
    frame = encode_frame(generate_sample(10).head(40), tokenizer, encode).to_pandas()
    ours = predict_scores(
        load_classifier(str(tmp_path / "model"), 0), frame, make_collator(tokenizer, encode), 16
    )
    logits = CrossEncoder(str(tmp_path / "model"), device="cpu", max_length=64).predict(
        list(zip(frame["query"], frame["title"], strict=True)), activation_fn=torch.nn.Identity()
    )
    assert logits.shape == (len(frame), 2)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], ours, atol=1e-5)


@pytest.mark.parametrize("loss", ["listwise", "pairwise"])
def test_ranking_losses_train_deterministically_and_rank(
    tiny_model_dir: Path, tmp_path: Path, loss: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A ranking objective trains on groups of one query's pairs (the tiny model, the
    sample), reruns byte for byte, and trains another model than the pointwise loss."""
    caplog.set_level("INFO", logger="ranker.model.groups")
    a = _train(tiny_model_dir, tmp_path / "a", loss=loss, group_size=8)
    b = _train(tiny_model_dir, tmp_path / "b", loss=loss, group_size=8)
    assert a == b
    assert (tmp_path / "a/model/model.safetensors").read_bytes() == (
        tmp_path / "b/model/model.safetensors"
    ).read_bytes()
    assert "training groups of up to 8 pairs" in caplog.text
    point = _train(tiny_model_dir, tmp_path / "p", loss="pointwise")
    assert a["train_loss"] != point["train_loss"]
    assert a["best_ndcg@10"] > 0
    curve = pd.read_csv(tmp_path / "a/live/plots/metrics/eval/loss.tsv", sep="\t")
    assert len(curve) == 2 and np.isfinite(curve["loss"]).all(), "validation stays pointwise"


def test_listwise_loss_on_cached_features(tiny_model_dir: Path, tmp_path: Path) -> None:
    metrics = _train(
        tiny_model_dir, tmp_path, loss="listwise", freeze_base=True, cache_features=True
    )
    base = load_classifier(str(tiny_model_dir), 0)
    tuned = load_classifier(str(tmp_path / "model"), 0)
    assert not torch.equal(base.classifier.weight, tuned.classifier.weight)
    assert metrics["trainable_params"] == 66


def test_ranking_loss_without_anything_to_rank_fails_in_one_line(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from ranker.errors import DataError
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    parts = split_pairs(generate_sample(pairs_per_query=10), SplitParams())
    enc = EncodeParams(max_length=64)
    positives = parts["train"][parts["train"]["label"] == 1]
    with pytest.raises(DataError, match="nothing to rank; add negatives"):
        train_model(
            model_name=str(tiny_model_dir),
            tokenizer=tokenizer,
            train_df=encode_frame(positives, tokenizer, enc).to_pandas(),
            valid_df=encode_frame(parts["valid"], tokenizer, enc).to_pandas(),
            params=TrainParams(loss="listwise", batch_size=16),
            run=RunParams(threads=1),
            encode=enc,
            k=10,
            out_dir=tmp_path / "model",
            live_dir=tmp_path / "live",
            metrics_path=tmp_path / "train.json",
        )
    assert not (tmp_path / "model").exists()


def test_cached_features_train_the_same_head_fast(tiny_model_dir: Path, tmp_path: Path) -> None:
    from ranker.model.batches import make_collator
    from ranker.model.predict import predict_scores
    from ranker.model.tokenizer import load_tokenizer

    kw = {"freeze_base": True, "loss": "pointwise"}
    cached = _train(tiny_model_dir, tmp_path / "cached", cache_features=True, **kw)
    plain = _train(tiny_model_dir, tmp_path / "plain", cache_features=False, **kw)
    assert cached["trainable_params"] == plain["trainable_params"] == 66
    # The saved model is the full classifier: the encoder untouched, the head trained.
    base = load_classifier(str(tiny_model_dir), 0)
    tuned = load_classifier(str(tmp_path / "cached/model"), 0)
    for (name, a), (_, b) in zip(
        base.base_model.state_dict().items(), tuned.base_model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not torch.equal(base.classifier.weight, tuned.classifier.weight)
    # It ranks: its validation scores come from the real model, not from the cache.
    tokenizer = load_tokenizer(str(tiny_model_dir))
    frame = encode_frame(
        generate_sample(10).head(50), tokenizer, EncodeParams(max_length=64)
    ).to_pandas()
    scores = predict_scores(tuned, frame, make_collator(tokenizer, EncodeParams(max_length=64)), 16)
    assert np.isfinite(scores).all() and scores.std() > 0
    assert cached["best_ndcg@10"] > 0


def test_bf16_autocasts_matmuls_and_saves_fp32_weights(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    bf16 = _train(tiny_model_dir, tmp_path / "bf16", precision="bf16", epochs=1.0)
    fp32 = _train(tiny_model_dir, tmp_path / "fp32", precision="fp32", epochs=1.0)
    assert bf16["train_loss"] != fp32["train_loss"], "bf16 did not change the arithmetic"
    tuned = load_classifier(str(tmp_path / "bf16/model"), 0)
    assert {p.dtype for p in tuned.parameters()} == {torch.float32}


def test_precision_is_never_chosen_for_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from ranker.config import parse_params
    from ranker.errors import ParamError
    from ranker.model import modeling

    assert TrainParams().precision == "fp32"
    with pytest.raises(ParamError, match="'auto' is not one of 'fp32', 'bf16', 'fp16'"):
        parse_params({"train": {"precision": "auto"}})
    monkeypatch.setattr(modeling.torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParamError, match="fp16 needs a CUDA GPU"):
        modeling.check_precision("fp16")
    for precision in ("fp32", "bf16"):
        assert modeling.check_precision(precision) == precision


def test_threads_param_decides_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from ranker.model.modeling import set_threads

    before = torch.get_num_threads()
    monkeypatch.setenv("TORCH_NUM_THREADS", "7")
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert RunParams().threads == 2, "a fixed default: the thread count changes the model"
    finally:
        torch.set_num_threads(before)


def test_thread_count_changes_the_trained_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Why run.threads is a fixed param: the same run on 1 and 2 threads differs in its
    last bits (reductions split differently), and on one thread count it is bit-identical."""
    from safetensors.numpy import load_file

    runs = {
        name: _train(tiny_model_dir, tmp_path / name, epochs=1.0, threads=threads)
        for name, threads in (("one", 1), ("one-again", 1), ("two", 2))
    }
    weights = {name: load_file(tmp_path / name / "model/model.safetensors") for name in runs}
    same = lambda a, b: all(np.array_equal(weights[a][k], weights[b][k]) for k in weights[a])  # noqa: E731
    assert same("one", "one-again")
    if (os.cpu_count() or 1) >= 2:
        assert not same("one", "two")


def test_encode_says_what_the_data_did(tiny_model_dir: Path, tmp_path: Path, caplog) -> None:
    """Truncation at encode.max_length and [UNK]-heavy text each get a log line (the
    warning names the tokenizer and an example) and a count in the stage's metrics."""
    import json
    import logging

    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    df = pd.DataFrame({
        "query": ["病毒传播途径", "病毒传播途径", "masks"],
        "title": ["word " * 300, "口罩与传播", "face masks reduce spread"],
        "label": [0, 1, 1],
    })  # fmt: skip
    metrics = tmp_path / "encode.json"
    with caplog.at_level(logging.INFO, logger="ranker.model.encode"):
        run_encode({"train": df}, tokenizer, EncodeParams(max_length=32), tmp_path / "e", metrics)
    lines = [r.getMessage() for r in caplog.records]
    assert "encode train: 1 of 3 pairs (33.3%) truncated at encode.max_length 32" in lines
    warned = [m for m in lines if "tokens are [UNK]" in m]
    assert len(warned) == 2, lines  # the queries' and the titles'
    assert warned[0].startswith("encode train: ") and "'病毒传播途径' -> ['[UNK]'" in warned[0]
    assert str(tiny_model_dir) in warned[0] and warned[0].endswith("(model.name)")
    got = json.loads(metrics.read_text())["train"]
    assert got["rows"] == 3 and got["truncated"] == 1
    # One distinct Chinese query of two: its tokens are all [UNK], "masks" has none.
    assert got["unk_rate"]["queries"] > 0.5 and 0 < got["unk_rate"]["titles"] < 0.5


def test_encoding_in_chunks_equals_encoding_whole(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The encode stage's streamed path (chunks of 7 rows, one row group each) writes the
    same rows as encoding the frame at once, and training's Arrow dataset serves the same
    items as one built from pandas."""
    import pyarrow.parquet as pq

    from ranker.model.batches import PairDataset
    from ranker.model.encode import load_features
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    pairs = generate_sample(pairs_per_query=10).head(60)
    chunks = (pairs.iloc[i : i + 7] for i in range(0, len(pairs), 7))
    meta = run_encode({"train": chunks}, tokenizer, EncodeParams(max_length=32), tmp_path / "a")
    whole = run_encode({"train": pairs}, tokenizer, EncodeParams(max_length=32), tmp_path / "b")
    assert meta == whole
    streamed = pq.read_table(tmp_path / "a" / "train.parquet")
    assert pq.ParquetFile(tmp_path / "a" / "train.parquet").num_row_groups == 9
    assert streamed.equals(pq.read_table(tmp_path / "b" / "train.parquet"))
    arrow = PairDataset(load_features(tmp_path / "a" / "train.parquet"))
    frame = PairDataset(streamed.to_pandas())
    assert len(arrow) == len(frame) == 60
    assert all(arrow[i] == frame[i] for i in range(60))
    assert arrow.lengths().tolist() == [len(frame[i]["input_ids"]) for i in range(60)]
