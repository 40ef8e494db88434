"""The manual: README is a landing page, docs/ builds strictly, every page is in the nav."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run


def test_readme_is_a_landing_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for command in ("make run", "make test", "ranker-rerank", "dvc pull"):
        assert command in text, command
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), f"README links to a missing page: {link}"


def test_every_docs_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = {next(iter(entry.values())) for entry in config["nav"]}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert listed == pages


def test_the_docs_build_strictly(tmp_path: Path) -> None:
    """`make docs`: mkdocs fails on a broken link, a missing anchor or an unlisted page."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.is_file() or shutil.which("mkdocs"), "mkdocs is in requirements-dev.lock"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "params" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The strict build is a real gate: the same config over a page with a dead link fails."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "data.md").write_text((docs / "data.md").read_text() + "\n[gone](nowhere.md)\n")
    shutil.copy2(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode != 0 and "nowhere.md" in done.stderr


# --- Worked examples: each `$ ranker-rerank` block of README and docs/, run on the model
# `make run` builds, prints what the page shows.

DOC_PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
# Training on another CPU moves fp32 weights in the last bits; the scores shown (4 decimals
# or full precision) agree to about 1e-4 between the Intel and AMD machines measured.
SCORE_TOL = 0.01
NUMBER = re.compile(r"^[+-]?\d+\.\d+(e[+-]?\d+)?$")


def shell_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """The ```bash blocks that run `ranker-rerank`, each as (command, the lines shown after
    it) pairs; `\\` continues a command, `  # ...` is a comment on a shown line."""
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        if "$ ranker-rerank" not in body:
            continue
        steps: list[tuple[str, list[str]]] = []
        lines = body.splitlines()
        while lines:
            line = lines.pop(0)
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and lines:
                    command = command[:-1] + lines.pop(0).strip()
                steps.append((command, []))
            elif steps and line.strip():
                steps[-1][1].append(re.sub(r"\s{2,}#.*$", "", line).rstrip())
        blocks.append(steps)
    return blocks


def same_line(shown: str, printed: str) -> bool:
    a, b = shown.split(), printed.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if NUMBER.match(x) and NUMBER.match(y):
            if abs(float(x) - float(y)) > SCORE_TOL:
                return False
        elif x != y:
            return False
    return True


def test_shell_blocks_read_commands_and_their_shown_output() -> None:
    text = (
        "```bash\n$ ranker-rerank -q a \\\n    t1 \\\n    t2\n-1.0000\tt1\n"
        "$ cat x   # c\nline  # comment\n```\n```bash\n$ make run\nout\n```\n"
    )
    assert shell_blocks(text) == [
        [("ranker-rerank -q a t1 t2", ["-1.0000\tt1"]), ("cat x   # c", ["line"])]
    ]
    assert same_line("-2.7028\tTracing the spillover", "-2.7031\tTracing the spillover")
    assert not same_line("-2.7028\tTracing", "-2.7528\tTracing")
    assert not same_line("q1 Q0 d2 1 -2.70 minilm", "q1 Q0 d1 1 -2.70 minilm")


@pytest.mark.slow
def test_documented_examples_print_what_the_pages_show(default_repo: Path, tmp_path: Path) -> None:
    """Once README showed +0.5469 for a title the default model scores -2.7028."""
    (tmp_path / "models").symlink_to(default_repo / "models")
    examples = [
        (page, steps)
        for page in DOC_PAGES
        for steps in shell_blocks((ROOT / page).read_text(encoding="utf-8"))
    ]
    assert {page for page, _ in examples} >= {"README.md", "docs/export-and-serving.md"}
    for page, steps in examples:
        for command, shown in steps:
            proc = run(["bash", "-c", command], cwd=tmp_path)
            printed = [
                line.strip()
                for line in (proc.stdout + "\n" + proc.stderr).replace("\r", "\n").splitlines()
            ]
            # Every shown line, in order, among what the command printed.
            at = 0
            for line in shown:
                while at < len(printed) and not same_line(line, printed[at]):
                    at += 1
                assert at < len(printed), f"{page}: `{command}` did not print {line!r}: {printed}"
                at += 1
