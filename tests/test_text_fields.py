"""Document text beyond the title (`data.text_fields`): the join, each source shape (a pairs
file, a BEIR corpus, a TREC collection, the synthetic sample), the params, and the Vespa
schema that joins the fields the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import DataParams, parse_params
from ranker.data.download import run_download
from ranker.data.fields import join_text
from ranker.errors import DataError, DownloadError, ParamError
from tests.beir import write_beir
from tests.test_trec_collections import robust


def _download(tmp_path: Path, **data: object) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    summary = run_download(DataParams(**data), tmp_path / "raw", tmp_path / "data.json")  # type: ignore[arg-type]
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv", keep_default_na=False)
    corpus = pd.read_parquet(tmp_path / "raw/corpus.parquet")
    return summary, pairs, corpus


def test_join_skips_empty_fields_and_strips() -> None:
    frame = pd.DataFrame(
        {"title": ["A title", "", " T ", None], "abstract": ["Some text.", "Only text", None, "x"]}
    )
    assert join_text(frame, ["title", "abstract"]).tolist() == [
        "A title Some text.",
        "Only text",
        "T",
        "x",
    ]
    assert join_text(frame, ["title"]).tolist() == ["A title", "", "T", ""]


def test_pairs_file_fields_are_joined_into_the_document_text(tmp_path: Path) -> None:
    src = tmp_path / "own.csv"
    pd.DataFrame(
        {
            "question": ["q1", "q1", "q2", "q2"],
            "heading": ["Masks work", "Weather", "", "Vaccines"],
            "abstract": ["A trial of masks.", "", "Only an abstract.", "A cohort."],
            "label": [1, 0, 1, 0],
        }
    ).to_csv(src, index=False)
    summary, pairs, corpus = _download(
        tmp_path, source=str(src), text_fields="title+abstract",
        columns={"query": "question", "title": "heading"},
    )  # fmt: skip
    assert pairs["title"].tolist() == [
        "Masks work A trial of masks.",
        "Weather",
        "Only an abstract.",
        "Vaccines A cohort.",
    ]
    assert list(pairs.columns) == ["query", "title", "label", "grade"]
    assert sorted(corpus["title"]) == sorted(pairs["title"])
    meta = json.loads((tmp_path / "raw/meta.json").read_text())
    assert meta["text_fields"] == "title+abstract" and summary["rows"] == 4


def test_a_missing_field_is_one_line_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "own.csv"
    pd.DataFrame({"query": ["q"], "title": ["t"], "label": [1]}).to_csv(src, index=False)
    with pytest.raises(DataError, match=r"own.csv: missing required column\(s\) 'abstract'"):
        _download(tmp_path, source=str(src), text_fields="title+abstract")
    assert not (tmp_path / "raw").exists()


def test_titles_only_is_as_before(tmp_path: Path) -> None:
    src = tmp_path / "own.csv"
    pd.DataFrame(
        {"query": ["q", "q"], "title": ["a", "b"], "abstract": ["x", "y"], "label": [1, 0]}
    ).to_csv(src, index=False)
    _, pairs, _ = _download(tmp_path, source=str(src))
    assert pairs["title"].tolist() == ["a", "b"]
    assert "text_fields" not in json.loads((tmp_path / "raw/meta.json").read_text())


def test_beir_corpus_keys_are_the_fields(tmp_path: Path) -> None:
    write_beir(tmp_path / "beir")
    _, titles, _ = _download(tmp_path / "a", source=str(tmp_path / "beir"), graded_threshold=1)
    _, joined, corpus = _download(
        tmp_path / "b",
        source=str(tmp_path / "beir"),
        text_fields="title+text",
        graded_threshold=1,
    )
    # A passage without a title is its text either way; a titled one gains its text.
    same = joined["title"] == titles["title"]
    assert same.any() and (~same).any()
    assert all(
        j == f"{t} Abstract of {t}."
        for t, j in zip(titles["title"][~same], joined["title"][~same], strict=True)
    )
    assert "Unjudged paper 0" in set(corpus["title"]), (
        "documents without the field keep their title"
    )
    with pytest.raises(DataError, match=r"corpus.jsonl: no document has 'abstrct'"):
        _download(
            tmp_path / "c",
            source=str(tmp_path / "beir"),
            text_fields="title+abstrct",
            graded_threshold=1,
        )


def test_trec_collection_columns_are_the_fields(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    path = robust(
        tmp_path,
        collection={"location": str(docs), "columns": {"doc_id": "docno", "title": "headline"}},
    )
    rows = [
        {"docno": "FBIS3-1", "headline": "Mafia", "text": "Groups cross borders."},
        {"docno": "FBIS3-2", "headline": "Weather", "text": ""},
        {"docno": "FBIS3-3", "headline": "", "text": "Spam."},
        {"docno": "LA-9", "headline": "Polio", "text": "Vaccination in India."},
        {"docno": "LA-8", "headline": "Football", "text": "Results."},
    ]
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, pairs, corpus = _download(
        tmp_path / "out",
        source=str(path),
        graded_threshold=1,
        text_fields="title+text",
        query_field="title",
    )
    texts = dict(zip(corpus["doc_id"], corpus["title"], strict=True))
    assert texts["FBIS3-1"] == "Mafia Groups cross borders." and texts["FBIS3-2"] == "Weather"
    assert texts["FBIS3-3"] == "Spam.", "a document with only a text is still a document"
    assert "Polio Vaccination in India." in set(pairs["title"])
    with pytest.raises(DataError, match=r"missing required column\(s\) 'body'"):
        _download(
            tmp_path / "bad",
            source=str(path),
            graded_threshold=1,
            text_fields="title+body",
            query_field="title",
        )


def test_shared_trec_covid_abstracts(shared_trec: Path, tmp_path: Path) -> None:
    """TREC-COVID's own metadata.csv columns: title+abstract of the 100 shared documents."""
    import yaml

    spec = tmp_path / "trec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "trec": {
                    "topics": {"location": str(shared_trec / "topics.xml")},
                    "qrels": {"location": str(shared_trec / "qrels.txt")},
                    "collection": {
                        "location": str(shared_trec / "metadata-sample.csv"),
                        "columns": {"doc_id": "cord_uid", "title": "title"},
                    },
                }
            }
        )
    )
    _, titles, _ = _download(tmp_path / "a", source=str(spec), graded_threshold=1)
    _, joined, _ = _download(
        tmp_path / "b", source=str(spec), graded_threshold=1, text_fields="title+abstract"
    )
    assert len(joined) == len(titles) == 165
    longer = (joined["title"].str.len() > titles["title"].str.len()).mean()
    assert longer > 0.5 and all(
        j.startswith(t) for t, j in zip(titles["title"], joined["title"], strict=True)
    )


def test_the_sample_has_abstracts_on_request(tmp_path: Path) -> None:
    source = "ranker/data/sample_topics.yaml"
    _, titles, _ = _download(tmp_path / "a", source=source, sample_pairs_per_query=10)
    _, joined, _ = _download(
        tmp_path / "b", source=source, sample_pairs_per_query=10, text_fields="title+abstract"
    )
    assert titles["query"].tolist() == joined["query"].tolist()
    assert all(j.startswith(t) for t, j in zip(titles["title"], joined["title"], strict=True))
    words = joined["title"].str.split().str.len() - titles["title"].str.split().str.len()
    assert words.median() > 60 and words.max() < 320
    with pytest.raises(DownloadError, match=r"a title and an abstract only"):
        _download(tmp_path / "c", source=source, text_fields="title+body")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ("abstract", "lacks title"),
        ("title+title", "distinct field names"),
        ("title+", "distinct field names"),
        ("title abstract", "distinct field names"),
    ],
)
def test_text_fields_are_validated(fields: str, match: str) -> None:
    with pytest.raises(ParamError, match=f"data.text_fields: .*{match}"):
        parse_params({"data": {"text_fields": fields}})


def test_vespa_schema_joins_the_fields_as_the_pipeline_does() -> None:
    from ranker.vespa.schema import JOINED, application, text_source

    assert text_source(("title",)) == ("title", "input title")
    ranked, expr = text_source(("title", "abstract"))
    assert ranked == JOINED and expr == '(input title || "") . " " . (input abstract || "")'
    manifest = {
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "template": {"start": [101], "middle": [102], "end": [102]},
        "output": {"logits": {"shape": ["batch", 1]}},
    }
    from ranker.config import VespaParams

    app = application(
        model_path=Path("model.onnx"), params=VespaParams(), bm25=(1.2, 0.75), length=128,
        manifest=manifest, fields=("title", "abstract"),
    )  # fmt: skip
    sd = app.schemas[0].schema_to_text
    assert "field abstract type string" in sd and "field title type string" in sd
    assert f"field {JOINED} type string" in sd and f"bm25({JOINED})" in sd
    assert f"{expr} | embed tokenizer | attribute" in sd
    assert "bm25(title)" not in sd
    plain = application(
        model_path=Path("model.onnx"), params=VespaParams(), bm25=(1.2, 0.75), length=128,
        manifest=manifest,
    ).schemas[0].schema_to_text  # fmt: skip
    assert "bm25(title)" in plain and JOINED not in plain and "abstract" not in plain
