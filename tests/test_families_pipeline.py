"""A non-BERT family through the whole pipeline: a tiny XLM-RoBERTa (Unigram tokenizer,
`<s> q </s></s> t </s>`, no token types) on German, Chinese and Arabic pairs, trained by two
data-parallel workers; and its local directory as a dependency that DVC hashes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import commit_all, copy_project, dvc, tiny_params, write_params
from tests.families import MULTILINGUAL, build_family, corpus_texts

QUERIES = {
    "Übertragung von Viren in Schulen": ["Übertragung", "Schulschließungen", "Flüchtlinge"],
    "病毒传播途径": ["传播", "潜伏期", "口罩"],
    "لقاحات كورونا": ["اللقاحات", "المتحورات", "المدارس"],
    "coronavirus masks": ["masks", "transmission", "vaccine"],
}


def _pairs(path: Path) -> None:
    """12 queries x 12 titles, labelled by a shared word: enough for a query split."""
    titles = [*MULTILINGUAL, *corpus_texts()[:30]]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["query", "title", "label"])
        for n in range(3):
            for query, words in QUERIES.items():
                for i, title in enumerate(titles[n * 12 : n * 12 + 12]):
                    out.writerow(
                        [f"{query} {n}", title, int(any(w in title for w in words) or i == n)]
                    )


@pytest.fixture(scope="module")
def xlmr_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xlmr")
    model_dir = build_family("xlm-roberta", root / "xlm-r")
    repo = copy_project(root / "repo")
    _pairs(repo / "pairs.csv")
    params = tiny_params(model_dir)
    params["data"]["source"] = "pairs.csv"
    params["distributed"]["nproc_per_node"] = 2
    write_params(repo, params)
    commit_all(repo, "project")
    dvc("repro", cwd=repo)
    return repo


def test_xlm_roberta_trains_exports_and_serves_on_non_latin_text(xlmr_repo: Path) -> None:
    from sentence_transformers import CrossEncoder

    from ranker.serve.rerank import Reranker

    export = json.loads((xlmr_repo / "metrics/export.json").read_text())
    assert export["model"] == {
        "model_type": "xlm-roberta",
        "inputs": ["input_ids", "attention_mask"],
    }
    assert export["parity"]["passed"] and export["head"]["passed"] and "int8" in export
    assert export["vespa"]["built"] and export["vespa"]["same_tokens"] > 0
    base = json.loads((xlmr_repo / "data/base.json").read_text())
    assert base["template"]["middle"] == [2, 2]  # </s></s>
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(base["files"])
    schema = (xlmr_repo / "models/vespa/schemas/doc.sd").read_text()
    assert (
        "customTokenInputIds(0, 2, 64, query(q), query(empty), attribute(title_tokens))" in schema
    )
    assert "token_type_ids" not in schema

    titles = MULTILINGUAL
    served = Reranker(xlmr_repo / "models/onnx").scores("病毒传播途径", titles)
    ranked = CrossEncoder(str(xlmr_repo / "models/reranker"), device="cpu").rank(
        "病毒传播途径", titles
    )
    by_st = {r["corpus_id"]: float(r["score"]) for r in ranked}
    torch.testing.assert_close(
        torch.tensor([by_st[i] for i in range(len(titles))], dtype=torch.float64),
        torch.tensor(served, dtype=torch.float64),
        rtol=0,
        atol=1e-4,
    )


def test_resaved_weights_in_the_model_directory_rerun_training(xlmr_repo: Path) -> None:
    """The directory is a dep: its files' hashes decide, not the model.name string."""
    assert dvc("status", "--json", cwd=xlmr_repo).stdout.strip() == "{}"
    from transformers import AutoModelForSequenceClassification

    model_dir = Path(tiny_model_dir_of(xlmr_repo))

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    with torch.no_grad():
        model.classifier.out_proj.weight.mul_(-1.0)
    model.save_pretrained(str(model_dir))
    status = json.loads(dvc("status", "--json", cwd=xlmr_repo).stdout)
    assert status == {"base": [{"changed deps": {str(model_dir): "modified"}}]}
    dvc("repro", "base", cwd=xlmr_repo)
    status = json.loads(dvc("status", "--json", cwd=xlmr_repo).stdout)
    assert {"encode", "train", "evaluate"} <= set(status), status
    assert all(s == [{"changed deps": {"data/base.json": "modified"}}] for s in status.values())


def tiny_model_dir_of(repo: Path) -> str:
    import yaml

    return yaml.safe_load((repo / "params.yaml").read_text())["model"]["files"]
