"""The whole DVC pipeline on the tiny model: it runs, is reproducible, and reruns nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import dvc


def test_repro_produces_every_output(pipeline_repo: Path) -> None:
    for rel in (
        "data/raw/pairs.csv",
        "data/raw/meta.json",
        "data/split/train.csv",
        "data/split/valid.csv",
        "data/split/test.csv",
        "data/encoded/train.parquet",
        "data/encoded/valid.parquet",
        "data/encoded/test.parquet",
        "models/model/model.safetensors",
        "models/model/config.json",
        "models/model/tokenizer.json",
        "metrics/eval.json",
        "plots/eval/roc.csv",
        "plots/eval/precision_recall.csv",
        "plots/eval/confusion.csv",
        "plots/eval/per_query.csv",
        "plots/eval/per_query_metrics.csv",
        "plots/eval/behaviour.csv",
        "plots/eval/deployed_per_query.csv",
        "plots/eval/deployed_per_query_metrics.csv",
        "data/raw/corpus.parquet",
        "data/raw/qrels.parquet",
        "data/retrieve/run.parquet",
        "metrics/retrieve.json",
        "dvclive/metrics.json",
        "dvclive/plots/metrics/eval/ndcg@10.tsv",
        "models/model/README.md",
        "models/model/provenance.json",
        "models/onnx/model.onnx",
        "models/onnx/model.int8.onnx",
        "models/onnx/tokenizer.json",
        "models/onnx/ranker.json",
        "metrics/export.json",
    ):
        assert (pipeline_repo / rel).is_file(), rel
    assert not list((pipeline_repo / "models" / "model").glob("*.bin")), "safetensors only"
    meta = json.loads((pipeline_repo / "data/raw/meta.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["note"]
    config = json.loads((pipeline_repo / "models/model/config.json").read_text())
    assert config["id2label"] == {"0": "irrelevant", "1": "relevant"}


def test_status_clean_and_second_repro_runs_nothing(pipeline_repo: Path) -> None:
    status = dvc("status", "--json", "dvc.yaml", cwd=pipeline_repo)
    assert json.loads(status.stdout) == {}
    start = time.monotonic()
    again = dvc("repro", cwd=pipeline_repo)
    assert "didn't change, skipping" in again.stdout
    assert "Running stage" not in again.stdout
    assert time.monotonic() - start < 60


def test_metrics_show_lists_ranking_metrics(pipeline_repo: Path) -> None:
    shown = json.loads(dvc("metrics", "show", "--json", cwd=pipeline_repo).stdout)
    files = next(iter(shown.values()))["data"]
    eval_metrics = files["metrics/eval.json"]["data"]
    for who in ("model", "bm25", "pretrained"):
        for key in ("ndcg@10", "mrr@10", "map", "p@10", "recall@10", "roc_auc"):
            assert key in eval_metrics[who], (who, key)
        ci = eval_metrics[who]["ndcg@10_ci95"]
        assert ci["low"] <= eval_metrics[who]["ndcg@10"] <= ci["high"], who
    for versus in ("model_vs_bm25", "model_vs_pretrained"):
        test = eval_metrics["significance"][versus]
        assert {"p_randomization", "improved", "degraded", "tied"} <= set(test)
        assert {"low", "high"} == set(test["delta_ci95"])
    assert 0 <= eval_metrics["behaviour"]["pass_rate"] <= 1
    split = files["metrics/split.json"]["data"]
    assert split["query_overlap"] == 0
    # The reported numbers come from the test split: its queries, none of train's.
    assert eval_metrics["queries"] == split["test"]["queries"] == 10
    # As deployed: the test queries' BM25 top-100 of the whole corpus, reranked and fused.
    deployed = eval_metrics["deployed"]
    assert deployed["queries"] == 10 and deployed["k"] == 100
    for who in ("bm25", "model", "fusion"):
        for key in ("ndcg@10", "judged@10", "recall@100"):
            ci = deployed[who][f"{key}_ci95"]
            assert ci["low"] <= deployed[who][key] <= ci["high"], (who, key)
    # Every system reorders the same hits: the first stage's recall is everyone's.
    assert deployed["model"]["recall@100"] == deployed["bm25"]["recall@100"]
    assert 0 <= deployed["fusion_weight"] <= 1 and deployed["fusion_valid_queries"] == 10
    for versus in ("model_vs_bm25", "fusion_vs_bm25", "fusion_vs_model"):
        assert deployed["significance"][versus]["queries"] == 10
    retrieve = files["metrics/retrieve.json"]["data"]
    assert retrieve["queries"] == 50 and retrieve["corpus_docs"] > retrieve["k"]
    data = files["metrics/data.json"]["data"]
    assert data["corpus_ids"] == "title-sha256" and data["corpus_docs"] == retrieve["corpus_docs"]
    assert eval_metrics["queries_without_relevant"] == 0
    encode = files["metrics/encode.json"]["data"]
    assert set(encode) == {"train", "valid", "test"}
    assert sum(encode[s]["rows"] for s in encode) == data["rows"]
    assert all(set(encode[s]["unk_rate"]) == {"queries", "titles"} for s in encode)


def test_deployed_view_reranks_the_first_stage_hits(pipeline_repo: Path) -> None:
    """The test queries' candidates are BM25's top-k from the whole corpus, unjudged ones
    included: the deployed table names exactly the test queries with a relevant document."""
    import pandas as pd

    run = pd.read_parquet(pipeline_repo / "data/retrieve/run.parquet")
    qrels = pd.read_parquet(pipeline_repo / "data/raw/qrels.parquet")
    test = set(pd.read_csv(pipeline_repo / "data/split/test.csv")["query"])
    table = pd.read_csv(pipeline_repo / "plots/eval/deployed_per_query_metrics.csv")
    assert set(table["query"]) == test and set(table["system"]) == {"bm25", "model", "fusion"}
    assert (table["candidates"] == 100).all()
    hits = run[run["query"].isin(test)]
    judged = hits.merge(qrels, on=["query", "doc_id"], how="left")
    assert judged["grade"].isna().any(), "the corpus holds documents nobody judged"


def test_per_query_files_name_the_test_queries(pipeline_repo: Path) -> None:
    import pandas as pd

    test = pd.read_csv(pipeline_repo / "data/split/test.csv")
    train = pd.read_csv(pipeline_repo / "data/split/train.csv")
    per_query = pd.read_csv(pipeline_repo / "plots/eval/per_query.csv")
    assert set(per_query["query"]) == set(test["query"])
    assert not set(per_query["query"]) & set(train["query"])
    assert list(per_query.columns) == ["query", "model", "bm25", "pretrained"]
    long = pd.read_csv(pipeline_repo / "plots/eval/per_query_metrics.csv")
    assert set(long["system"]) == {"model", "bm25", "pretrained"}


def test_export_parity_recorded(pipeline_repo: Path) -> None:
    export = json.loads((pipeline_repo / "metrics/export.json").read_text())
    assert export["parity"]["passed"] is True
    assert export["parity"]["max_abs_diff"] <= 1e-4
    assert {"fp32", "int8", "int8_gate", "batch", "test"} <= set(export)
    assert export["int8_gate"]["decision"] == "accepted"
    # Gates decide on validation; the reported ONNX quality is the test split's.
    assert set(export["test"]) == {"fp32", "int8"} and "ndcg@10" in export["test"]["int8"]
