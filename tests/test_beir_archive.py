"""A BEIR dataset as its publishers ship it, a .zip, from a path and over HTTP on 127.0.0.1;
and the archives nobody should be able to slip past: entries pointing outside, symlinks, a
bomb, a wrong checksum. Nothing is left extracted, whatever happens."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.errors import DataError, DownloadError
from tests.beir import write_beir
from tests.conftest import serve_folder


def zip_folder(root: Path, archive: Path, prefix: str = "scifact/") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out.write(path, prefix + path.relative_to(root).as_posix())
    return archive


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    write_beir(tmp_path / "scifact")
    return zip_folder(tmp_path / "scifact", tmp_path / "scifact.zip")


def download(source: str, out: Path, **data: object) -> dict:
    params = DataParams(source=source, graded_threshold=1, **data)  # type: ignore[arg-type]
    return run_download(params, out / "data/raw", out / "data.json")


def leftovers(out: Path) -> list[Path]:
    return list((out / "data").glob(".*")) if (out / "data").exists() else []


def test_a_zipped_folder_is_the_folder(archive: Path, tmp_path: Path) -> None:
    folder = download(str(tmp_path / "scifact"), tmp_path / "a")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    zipped = download(str(archive), tmp_path / "b", sha256=digest)
    assert zipped == folder
    for name in ("pairs.csv", "corpus.parquet", "qrels.parquet"):
        assert (tmp_path / "a/data/raw" / name).read_bytes() == (
            tmp_path / "b/data/raw" / name
        ).read_bytes()
    assert not leftovers(tmp_path / "b")
    # At the archive's top level, without the dataset's folder, it reads the same.
    flat = zip_folder(tmp_path / "scifact", tmp_path / "flat.zip", prefix="")
    assert download(str(flat), tmp_path / "c") == folder


@pytest.fixture()
def served(archive: Path) -> Iterator[str]:
    with serve_folder(archive.parent) as url:
        yield url


@pytest.mark.network
def test_a_zip_over_http_with_its_checksum(
    served: str, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    summary = download(f"{served}/scifact.zip", tmp_path / "ok", sha256=digest)
    assert summary["queries"] == 14
    pairs = pd.read_csv(tmp_path / "ok/data/raw/pairs.csv")
    assert set(pairs["split"]) == {"train", "valid", "test"}
    assert not leftovers(tmp_path / "ok")
    monkeypatch.setenv("RANKER_DOWNLOAD_RETRIES", "0")
    with pytest.raises(DownloadError, match=r"scifact.zip: SHA-256 mismatch"):
        download(f"{served}/scifact.zip", tmp_path / "bad", sha256="0" * 64)
    assert not (tmp_path / "bad/data/raw").exists() and not leftovers(tmp_path / "bad")
    # A URL without .zip says what it is with data.format.
    (archive.parent / "download").write_bytes(archive.read_bytes())
    assert download(f"{served}/download", tmp_path / "fmt", format="beir")["queries"] == 14


def _rezip(archive: Path, out: Path, extra: dict[str, bytes], *, link: str | None = None) -> Path:
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != link:
                dst.writestr(info, src.read(info))
        for name, data in extra.items():
            dst.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16  # a symlink, as zip -y stores one
            dst.writestr(info, "/etc/passwd")
    return out


def test_hostile_archives_are_one_line_and_write_nothing(archive: Path, tmp_path: Path) -> None:
    cases = {
        "outside": (
            _rezip(archive, tmp_path / "o.zip", {"../corpus.jsonl": b"{}"}),
            "points outside the archive",
        ),
        "two": (
            _rezip(archive, tmp_path / "t.zip", {"other/corpus.jsonl": b"{}"}),
            "more than one corpus.jsonl",
        ),
        "link": (
            _rezip(archive, tmp_path / "l.zip", {}, link="scifact/queries.jsonl"),
            "scifact/queries.jsonl is a symlink",
        ),
        "not zip": (tmp_path / "n.zip", "not a zip archive"),
    }
    (tmp_path / "n.zip").write_bytes((tmp_path / "scifact" / "queries.jsonl").read_bytes())
    for name, (path, message) in cases.items():
        out = tmp_path / name
        with pytest.raises(DataError) as info:
            download(str(path), out)
        assert message in str(info.value) and "\n" not in str(info.value), name
        assert not (out / "data/raw").exists() and not leftovers(out), name
    assert not (tmp_path / "corpus.jsonl").exists()


def test_a_zip_bomb_stops_at_the_cap(archive: Path, tmp_path: Path, monkeypatch) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("corpus.jsonl"):
                data += b" " * (8 << 20)  # 8 MiB of blanks: a few KB compressed
            dst.writestr(info.filename, data)
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv("RANKER_DOWNLOAD_MAX_BYTES", str(4 << 20))
    with pytest.raises(DataError, match=r"bomb.zip: inflates to more than RANKER_DOWNLOAD_MAX"):
        download(str(bomb), tmp_path / "x")
    assert not leftovers(tmp_path / "x")


def test_errors_inside_an_archive_name_the_archive(archive: Path, tmp_path: Path) -> None:
    broken = tmp_path / "b.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("qrels/test.tsv"):
                data = data.replace(b"\t1\n", b"\thigh\n", 1)
            dst.writestr(info, data)
    with pytest.raises(DataError) as info:
        download(str(broken), tmp_path / "x")
    assert str(info.value).startswith(f"{broken}/qrels/test.tsv: line ")
    assert "score 'high' is not a non-negative integer" in str(info.value)
