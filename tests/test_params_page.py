"""One source for every param: the declarations in ranker/sections.py and ranker/settings.py,
and the params page generated from them."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from ranker.config import Params, load_params
from ranker.errors import ParamError
from ranker.params_page import render
from ranker.settings import SETTINGS, DownloadSettings, RendezvousSettings, from_env
from tests.conftest import ROOT


def test_the_committed_params_page_is_current() -> None:
    page = (ROOT / "docs" / "params.md").read_text(encoding="utf-8")
    assert page == render(), "docs/params.md is stale: run `make params-page`"


def test_every_param_and_setting_is_documented_once_in_code() -> None:
    hints = typing.get_type_hints(Params)
    classes = [hints[f.name] for f in dataclasses.fields(Params)] + list(SETTINGS)
    for cls in classes:
        assert cls.__doc__, cls
        for f in dataclasses.fields(cls):
            assert len(f.metadata.get("doc", "")) > 10, f"{cls.__name__}.{f.name} has no doc"
    page = render()
    for f in dataclasses.fields(Params):
        for key in dataclasses.fields(hints[f.name]):
            assert page.count(f"`{f.name}.{key.name}`") == 1, key.name


def test_params_yaml_holds_every_param_at_its_default_and_no_comments_on_keys() -> None:
    text = (ROOT / "params.yaml").read_text()
    assert load_params(ROOT / "params.yaml") == Params()
    assert all("#" not in line for line in text.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize(
    ("key", "env"),
    [("data.timeout_s", "RANKER_DOWNLOAD_TIMEOUT_S"), ("distributed.rdzv_id", "PET_RDZV_ID")],
)
def test_a_param_that_moved_to_the_environment_says_where(tmp_path, key: str, env: str) -> None:
    section, name = key.split(".")
    (tmp_path / "params.yaml").write_text(f"{section}:\n  {name}: 1\n")
    with pytest.raises(ParamError, match=rf"{key}: no longer a param .* set .*{env} instead"):
        load_params(tmp_path / "params.yaml")


def test_settings_come_from_the_environment_checked_like_params() -> None:
    assert from_env(DownloadSettings, {}) == DownloadSettings()
    got = from_env(DownloadSettings, {"RANKER_DOWNLOAD_RETRIES": "0"})
    assert got.retries == 0 and got.timeout_s == 30.0
    meet = from_env(RendezvousSettings, {"PET_RDZV_ENDPOINT": "node0:1", "PET_RDZV_ID": "j"})
    assert (meet.endpoint, meet.job_id) == ("node0:1", "j")
    with pytest.raises(ParamError, match=r"^RANKER_DOWNLOAD_RETRIES: 11 must be <= 10$"):
        from_env(DownloadSettings, {"RANKER_DOWNLOAD_RETRIES": "11"})
    with pytest.raises(ParamError, match=r"^RANKER_DOWNLOAD_MAX_BYTES: 'lots' is not a valid int"):
        from_env(DownloadSettings, {"RANKER_DOWNLOAD_MAX_BYTES": "lots"})
    with pytest.raises(ParamError, match=r"^RANKER_DOWNLOAD_TIMEOUT_S: 0.0 must be >= 0.1$"):
        from_env(DownloadSettings, {"RANKER_DOWNLOAD_TIMEOUT_S": "0"})
