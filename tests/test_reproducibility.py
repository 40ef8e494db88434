"""Reproducibility you can check, on the tiny model: identical reruns, nothing lost by a failed
run, and the run-cache restoring earlier runs (locally and from a remote) without training."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, commit_all, dvc, git, ran, run, set_param

# Words that would mean a machine-dependent number found its way into an output.
TIMING = re.compile(r"runtime|latency|per_s|per_second|threads|hostname|wall", re.IGNORECASE)


def copy_repo(pipeline_repo: Path, dest: Path) -> Path:
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


def lock_outs(repo: Path) -> dict[str, str]:
    """Every output path in dvc.lock -> its hash."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def result_files(repo: Path) -> dict[str, bytes]:
    """The bytes of every metrics, plots and dvclive file."""
    files: dict[str, bytes] = {}
    for folder in ("metrics", "plots", "dvclive"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file() and path.name != ".gitignore":
                files[str(path.relative_to(repo))] = path.read_bytes()
    return files


def restore(repo: Path) -> None:
    """`make restore`, the documented command, run from the project's Makefile."""
    run(["make", "-s", "-f", str(ROOT / "Makefile"), "restore"], cwd=repo)


def test_identical_reruns(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    # The fixture ran at one commit and committed its dvc.lock: HEAD is another commit now.
    dvc("repro", "-f", cwd=repo)
    assert git("diff", "--exit-code", "--stat", "dvc.lock", cwd=repo, check=False).returncode == 0
    first_outs, first_files = lock_outs(repo), result_files(repo)
    # A new HEAD again, though nothing changed (the lock is the committed one).
    git("commit", "-q", "--allow-empty", "-m", "rerun", cwd=repo)
    dvc("repro", "-f", cwd=repo)
    assert git("diff", "--exit-code", "--stat", "dvc.lock", cwd=repo, check=False).returncode == 0
    assert lock_outs(repo) == first_outs
    second = result_files(repo)
    assert second.keys() == first_files.keys()
    changed = [name for name in second if second[name] != first_files[name]]
    assert not changed, f"changed between identical runs: {changed}"
    for name, data in first_files.items():
        if name.endswith((".json", ".csv", ".tsv", ".yaml")):
            keys = re.findall(r"[A-Za-z_@0-9]+", data.decode())
            assert not [k for k in keys if TIMING.search(k)], f"{name} holds a timing"
    # Everything that names the model's origin is in it, and identical too.
    card = json.loads((repo / "models/model/provenance.json").read_text())
    manifest = json.loads((repo / "models/onnx/ranker.json").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    train_deps = {d["path"]: d["md5"] for d in lock["stages"]["train"]["deps"]}
    for prov in (card, {k: v for k, v in manifest["provenance"].items() if k != "export"}):
        assert (
            prov["data"]["sha256"]
            == json.loads((repo / "data/raw/meta.json").read_text())["sha256"]
        )
        assert "git" not in prov, "a commit id would change the outputs after a commit"
        # The code's hashes are the ones dvc.lock records for the train stage's deps.
        assert prov["code"]["ranker/model/train.py"] == train_deps["ranker/model/train.py"]
        assert {k: train_deps[k] for k in prov["code"]} == prov["code"]
        assert prov["params"]["run"]["threads"] == 1
        assert prov["libraries"]["torch"] and prov["libraries"]["transformers"]
    assert (
        manifest["provenance"]["validation"]["best_ndcg@10"] == card["validation"]["best_ndcg@10"]
    )
    readme = (repo / "models/model/README.md").read_text()
    assert card["data"]["sha256"] in readme and f"| code | {len(card['code'])} files" in readme


def test_failed_runs_lose_nothing(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    good_outs, good_files = lock_outs(repo), result_files(repo)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("query,title,label\nq,a title,7\n")
    failures = {
        "misspelled key": lambda: set_param(repo, "train", "learning_rat", 0.1),
        "bad CSV source": lambda: set_param(repo, "data", "source", str(bad_csv)),
    }
    for case, damage in failures.items():
        damage()
        failed = dvc("repro", cwd=repo, check=False)
        assert failed.returncode != 0, case
        # DVC removed the failed stage's outputs before running it.
        assert not all((repo / name).exists() for name in good_files), case
        restore(repo)
        assert json.loads(dvc("status", "--json", "dvc.yaml", cwd=repo).stdout) == {}, case
        assert lock_outs(repo) == good_outs, case
        assert result_files(repo) == good_files, case
        assert (repo / "models/model/model.safetensors").is_file(), case


def test_run_cache_restores_earlier_runs_locally_and_from_a_remote(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    first_outs, first_files = lock_outs(repo), result_files(repo)

    # Another learning rate, committed; then the first params again: restored, not retrained.
    set_param(repo, "train", "learning_rate", 0.002)
    assert ran(dvc("repro", cwd=repo)) == {"train", "evaluate", "export"}
    second_outs = lock_outs(repo)
    assert second_outs["models/model"] != first_outs["models/model"]
    commit_all(repo, "lr 0.002")
    dvc("push", cwd=repo, HOME=str(home))
    git("checkout", "HEAD~1", "--", "params.yaml", cwd=repo)
    back = dvc("repro", cwd=repo)
    assert ran(back) == set(), back.stdout
    assert "is cached - skipping run" in back.stdout
    assert lock_outs(repo) == first_outs and result_files(repo) == first_files

    # A third run that is pushed but never committed: a clone restores it from the remote's
    # run-cache by its params alone.
    set_param(repo, "train", "learning_rate", 0.004)
    dvc("repro", cwd=repo)
    third_outs, third_files = lock_outs(repo), result_files(repo)
    dvc("push", "--run-cache", cwd=repo, HOME=str(home))
    git("checkout", "--", "params.yaml", "dvc.lock", cwd=repo)

    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    assert lock_outs(clone) == second_outs
    set_param(clone, "train", "learning_rate", 0.004)
    # --pull fetches the run-cache and, for each stage it restores, that run's outputs.
    restored = dvc("repro", "--pull", cwd=clone, HOME=str(home))
    assert ran(restored) == set(), restored.stdout
    assert lock_outs(clone) == third_outs and result_files(clone) == third_files


@pytest.mark.parametrize(
    "stage",
    ["base", "download", "retrieve", "split", "mine", "encode", "train", "evaluate", "export"],
)
def test_lock_records_requirements_for_every_stage(pipeline_repo: Path, stage: str) -> None:
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text())
    assert "requirements.lock" in {d["path"] for d in lock["stages"][stage]["deps"]}


def changed_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", "dvc.yaml", cwd=repo).stdout))


def test_code_and_environment_changes_mark_exactly_their_stages(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    with open(repo / "requirements-dev.lock", "a") as fh:
        fh.write("# a dev tool upgraded\n")
    assert changed_stages(repo) == set(), "dev-only tools rerun nothing"
    with open(repo / "ranker/model/modeling.py", "a") as fh:
        fh.write("# how scores are computed changed\n")
    # Encode tokenizes through ranker/model/tokenizer.py alone: modelling code leaves it be.
    assert changed_stages(repo) == {"train", "evaluate", "export"}
    git("checkout", "--", "ranker/model/modeling.py", cwd=repo)
    with open(repo / "ranker/model/tokenizer.py", "a") as fh:
        fh.write("# how model.name resolves changed\n")
    # base checks the model through the same resolution, so it reruns with the stages after it.
    assert changed_stages(repo) == {"base", "encode", "train", "evaluate", "export"}
    git("checkout", "--", "ranker/model/tokenizer.py", cwd=repo)
    with open(repo / "requirements.lock", "a") as fh:
        fh.write("# torch upgraded\n")
    assert changed_stages(repo) == {
        "base",
        "download",
        "retrieve",
        "split",
        "mine",
        "encode",
        "train",
        "evaluate",
        "export",
    }
