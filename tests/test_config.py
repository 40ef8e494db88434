from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ranker.config import Params, load_params, parse_params
from ranker.errors import ParamError

ROOT = Path(__file__).resolve().parents[1]


def test_repo_params_load_and_match_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params == Params(), "params.yaml documents the dataclass defaults"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"train": {"learning_rat": 1e-5}},
            "train.learning_rat: unknown param; valid keys in 'train': epochs, learning_rate",
        ),
        ({"trian": {}}, "trian: unknown params section; valid sections: data, split"),
        ({"train": {"batch_size": "16"}}, "train.batch_size: '16' is not a valid int"),
        ({"train": {"batch_size": 0}}, "train.batch_size: 0 must be >= 1"),
        ({"train": {"freeze_base": "yes"}}, "train.freeze_base: 'yes' is not a valid bool"),
        ({"train": {"epochs": 0}}, "train.epochs: 0.0 must be > 0.0"),
        ({"split": {"strategy": "rows"}}, "split.strategy: 'rows' is not one of 'query', 'random'"),
        ({"split": {"test_size": 1.0}}, "split.test_size: 1.0 must be < 0.98"),
        ({"split": {"test_size": 0.5, "valid_size": 0.5}}, "leave nothing to train on"),
        ({"cv": {"folds": [0, 2]}}, "cv.folds: [0, 2] must be the fold ids 0..K-1"),
        ({"cv": {"folds": 5}}, "cv.folds: 5 is not a list"),
        (
            {"data": {"query_field": "title+"}},
            "data.query_field: 'title+' is not a topic field name or names joined by +",
        ),
        (
            {"split": {"stratify": True}},
            "split.stratify: true only applies with split.strategy: random",
        ),
        ({"data": {"sha256": "abc"}}, "data.sha256: 'abc' is not a 64-hex-digit SHA-256"),
        (
            {"data": {"graded_threshold": 3, "max_grade": 2}},
            "data.graded_threshold: 3 must be <= data.max_grade 2",
        ),
        ({"data": {"max_grade": 3}}, "data.max_grade needs data.graded_threshold (graded labels)"),
        (
            {"data": {"columns": {"question": "query"}}},
            "data.columns: 'question' is not a pipeline column; map query, title or label to "
            "your file's names",
        ),
        ({"data": {"columns": ["query"]}}, "data.columns: ['query'] is not a mapping of names"),
        (
            {"data": {"format": "xlsx"}},
            "data.format: 'xlsx' is not one of 'auto', 'csv', 'tsv', 'jsonl', 'parquet'",
        ),
        (
            {"encode": {"padding": "max"}},
            "encode.padding: 'max' is not one of 'longest', 'max_length'",
        ),
        ({"export": {"opset": 11}}, "export.opset: 11 must be >= 14"),
        (
            {"export": {"calibration": "kl"}},
            "export.calibration: 'kl' is not one of 'minmax', 'percentile', 'entropy'",
        ),
        ({"export": {"min_rank_agreement": 2}}, "export.min_rank_agreement: 2.0 must be <= 1.0"),
        (
            {"export": {"require_int8": True, "quantize": False}},
            "export.require_int8: true needs export.quantize: true",
        ),
        ({"model": {"name": ""}}, "model.name: '' is not a valid str"),
        ({"train": [1, 2]}, "train: expected a mapping of keys"),
    ],
)
def test_bad_params_fail_with_one_line_naming_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_params(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_float_written_as_string_or_int_is_accepted() -> None:
    # PyYAML reads 3e-5 (no dot) as a string; DVC's -S writes floats that way.
    params = parse_params(yaml.safe_load("train:\n  learning_rate: 3e-5\n  epochs: 2\n"))
    assert params.train.learning_rate == pytest.approx(3e-5)
    assert params.train.epochs == 2.0


def test_params_are_frozen() -> None:
    params = parse_params({})
    with pytest.raises(AttributeError):
        params.run.seed = 1  # type: ignore[misc]


def test_load_params_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ParamError, match=r"params.yaml: train.epoch: unknown param"):
        load_params(path)
    path.write_text("train: [\n")
    with pytest.raises(ParamError, match="not valid YAML"):
        load_params(path)
    with pytest.raises(ParamError, match=r"missing.yaml: cannot read \(No such file"):
        load_params(tmp_path / "missing.yaml")
