"""The reranking command line, end to end, in a process where torch cannot be imported."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, tool_env
from tools.isa.cpuid import unavailable as cpuid_mask_unavailable

# Any import of torch or transformers fails in the child: the CLI must not need them.
BLOCK = (
    "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
    "from ranker.serve.cli import main; sys.exit(main(sys.argv[1:]))"
)

TITLES = [
    "Bat and pangolin reservoirs of the pandemic virus",
    "Origin-destination mobility data under coronavirus lockdown",
    "Economic recovery plans after coronavirus",
]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=tool_env(),
        cwd=ROOT,
    )


def seal_manifest(folder: Path) -> None:
    """Recompute ranker.json's own checksum, as someone who edits it on purpose would."""
    digest = hashlib.sha256((folder / "ranker.json").read_bytes()).hexdigest()
    (folder / "ranker.json.sha256").write_text(f"{digest}  ranker.json\n")


def test_ranks_arguments_with_json(onnx_dir: Path) -> None:
    proc = cli("-m", str(onnx_dir), "-q", "coronavirus origin", "--json", *TITLES)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    results = out["results"]
    assert sorted(r["title"] for r in results) == sorted(TITLES)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in results] == [1, 2, 3]


def test_matches_the_library_scores(onnx_dir: Path) -> None:
    from ranker.serve.rerank import Reranker

    expected = Reranker(onnx_dir).rerank("coronavirus origin", TITLES)
    proc = cli("-m", str(onnx_dir), "-q", "coronavirus origin", *TITLES)
    lines = [line.split("\t") for line in proc.stdout.strip().splitlines()]
    assert [t for _, t in lines] == [r.title for r in expected]
    assert [float(s) for s, _ in lines] == pytest.approx([r.score for r in expected], abs=1e-4)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_a_pairs_score_does_not_depend_on_the_batch_size(onnx_dir: Path, variant: str) -> None:
    """--batch-size changes how many pairs share a run, never a score: static int8 too,
    within the export's batch gate (export.batch_atol)."""
    from ranker.serve.rerank import Reranker

    ranker = Reranker(onnx_dir, variant)
    pairs = [("coronavirus origin", t) for t in TITLES] + [("masks", t) for t in TITLES]
    alone = ranker.score_pairs(pairs, batch_size=1)
    for size in (3, 32):
        np.testing.assert_allclose(ranker.score_pairs(pairs, batch_size=size), alone, atol=1e-3)


def test_int8_with_full_range_weights_warns_where_the_int8_product_saturates(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    from ranker.serve import runtime
    from ranker.serve.rerank import Reranker

    monkeypatch.setattr(runtime, "int8_product_saturates", lambda: True)
    seven_bit = tmp_path / "onnx"
    shutil.copytree(onnx_dir, seven_bit)
    manifest = json.loads((seven_bit / "ranker.json").read_text())
    manifest["provenance"]["export"]["reduce_range"] = True
    (seven_bit / "ranker.json").write_text(json.dumps(manifest))
    seal_manifest(seven_bit)
    with caplog.at_level(logging.WARNING, logger="ranker.serve.runtime"):
        Reranker(onnx_dir, "int8")
        Reranker(onnx_dir, "fp32")
        Reranker(seven_bit, "int8")
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{onnx_dir / 'model.int8.onnx'}: this CPU's int8 product saturates")
    assert "export.reduce_range: true" in warning


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}


def test_the_saturation_probe_agrees_with_the_cpus_class() -> None:
    from ranker.serve.runtime import int8_product_saturates

    flags = _cpu_flags()
    if "avx512_vnni" in flags:
        assert not int8_product_saturates()  # VPDPBUSD adds in int32
    elif "avx2" in flags and not flags & {"avx_vnni", "amx_int8"}:
        assert int8_product_saturates()  # VPMADDUBSW: the pair sums in int16
    else:
        pytest.skip("neither an AVX-512 VNNI CPU nor one without any VNNI")


@pytest.mark.skipif(bool(cpuid_mask_unavailable()), reason=cpuid_mask_unavailable() or "")
def test_cli_warns_on_an_avx2_cpu_for_int8_only(onnx_dir: Path) -> None:
    """In a process whose CPUID reports AVX2 only (`python -m tools.isa --avx2`) ONNX Runtime
    runs its saturating int8 kernel: the probe sees it, and `--int8` prints one warning line."""
    warnings = {}
    for variant in ("--int8", None):
        args = ["-m", str(onnx_dir), "-q", "masks", *([variant] if variant else []), *TITLES]
        proc = subprocess.run(
            [sys.executable, "-m", "tools.isa", "--avx2", "-c", BLOCK, *args],
            capture_output=True,
            text=True,
            env=tool_env(),
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.strip().splitlines()) == len(TITLES)
        warnings[variant] = [
            line for line in proc.stderr.splitlines() if line.startswith("WARNING")
        ]
    (line,) = warnings["--int8"]
    assert "model.int8.onnx: this CPU's int8 product saturates (no VNNI)" in line
    assert warnings[None] == []


def test_stdin_file_int8_and_top(onnx_dir: Path, tmp_path: Path) -> None:
    proc = cli(
        "-m", str(onnx_dir), "-q", "masks", "--int8", "--top", "2", stdin="\n".join(TITLES) + "\n\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(TITLES))
    proc = cli("-m", str(onnx_dir), "-q", "masks", "-f", str(titles))
    assert proc.returncode == 0 and len(proc.stdout.strip().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-q", "  ", "a title"], None, "error: empty query"),
        (["-q", "masks"], "", "error: no candidate titles"),
        (
            ["-q", "masks", "-f", "/nonexistent/titles.txt"],
            None,
            "error: /nonexistent/titles.txt: cannot read",
        ),
    ],
)
def test_clear_errors(onnx_dir: Path, args: list[str], stdin: str | None, message: str) -> None:
    proc = cli("-m", str(onnx_dir), *args, stdin=stdin)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_and_corrupted_model(onnx_dir: Path, tmp_path: Path) -> None:
    proc = cli("-m", str(tmp_path / "nowhere"), "-q", "masks", "a title")
    assert proc.returncode == 1
    assert "no such model file" in proc.stderr and "make pull-onnx" in proc.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tokenizer.json", "ranker.json", "ranker.json.sha256"):
        (broken / name).write_bytes((onnx_dir / name).read_bytes())
    data = (onnx_dir / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 2])
    proc = cli("-m", str(broken), "-q", "masks", "a title")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {broken / 'model.onnx'}: SHA-256 does not match ranker.json "
        "(damaged or replaced file); fetch it again with `make pull-onnx`"
    )
    # A file whose checksum the manifest vouches for, yet not ONNX: still one line.
    manifest = json.loads((broken / "ranker.json").read_text())
    (broken / "model.onnx").write_bytes(b"not onnx at all")
    manifest["sha256"]["model.onnx"] = hashlib.sha256(b"not onnx at all").hexdigest()
    (broken / "ranker.json").write_text(json.dumps(manifest))
    seal_manifest(broken)
    proc = cli("-m", str(broken), "-q", "masks", "a title")
    assert proc.returncode == 1
    assert "not a valid ONNX model" in proc.stderr and "Traceback" not in proc.stderr


def test_int8_asked_of_an_export_without_it_says_why(onnx_dir: Path, tmp_path: Path) -> None:
    """An export whose int8 failed its gate publishes fp32 only: --int8 says so, fp32 runs."""
    fp32_only = tmp_path / "onnx"
    fp32_only.mkdir()
    for path in onnx_dir.iterdir():
        if path.name != "model.int8.onnx":
            (fp32_only / path.name).write_bytes(path.read_bytes())
    proc = cli("-m", str(fp32_only), "--int8", "-q", "masks", "a title")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {fp32_only / 'model.int8.onnx'}: this export has no int8 model (its int8 "
        "failed the export gate, or export.quantize was false: metrics/export.json, "
        "int8_gate); score with model.onnx, without --int8"
    )
    assert cli("-m", str(fp32_only), "-q", "masks", "a title").returncode == 0


def _pairs_file(path: Path, queries: int = 6, per_query: int = 15) -> pd.DataFrame:
    from ranker.data.sample import generate_sample

    sample = generate_sample(pairs_per_query=per_query)
    chosen = sorted(sample["query"].unique())[:queries]
    frame = sample[sample["query"].isin(chosen)].reset_index(drop=True)
    qids = {q: f"q{i}" for i, q in enumerate(chosen)}
    frame = frame.assign(
        query_id=frame["query"].map(qids), doc_id=[f"d{i}" for i in range(len(frame))]
    ).sort_values("query_id", kind="stable")
    frame[["query_id", "doc_id", "query", "title", "label"]].to_csv(path, sep="\t", index=False)
    return frame


def test_batch_mode_writes_a_trec_run_that_evaluates(onnx_dir: Path, tmp_path: Path) -> None:
    import ir_measures

    from ranker.evaluation.ranking import ranking_metrics
    from ranker.serve.rerank import Reranker

    frame = _pairs_file(tmp_path / "pairs.tsv")
    run = tmp_path / "out.run"
    proc = cli("-m", str(onnx_dir), "--pairs", str(tmp_path / "pairs.tsv"), "--run", str(run))
    assert proc.returncode == 0, proc.stderr
    assert f"ranked {len(frame)} pairs of 6 queries" in proc.stderr
    lines = [line.split() for line in run.read_text().splitlines()]
    assert all(len(f) == 6 and f[1] == "Q0" and f[5] == "ranker" for f in lines)
    assert sorted(f[2] for f in lines) == sorted(frame["doc_id"])  # every pair once
    reranker = Reranker(onnx_dir, "fp32", 1)
    for qid, group in frame.groupby("query_id"):
        mine = [f for f in lines if f[0] == qid]
        assert [int(f[3]) for f in mine] == list(range(1, len(group) + 1))
        scores = [float(f[4]) for f in mine]
        assert scores == sorted(scores, reverse=True)
        expected = dict(
            zip(
                group["doc_id"],
                reranker.scores(group["query"].iloc[0], group["title"].tolist()),
                strict=True,
            )
        )
        assert {f[2]: float(f[4]) for f in mine} == pytest.approx(expected, abs=1e-4)
    # The run file is what ir-measures (trec_eval) reads: its nDCG@10 is the evaluation's.
    qrels = [
        ir_measures.Qrel(q, d, int(label))
        for q, d, label in zip(frame["query_id"], frame["doc_id"], frame["label"], strict=True)
    ]
    measured = ir_measures.calc_aggregate(
        [ir_measures.nDCG @ 10], qrels, list(ir_measures.read_trec_run(str(run)))
    )[ir_measures.nDCG @ 10]
    by_doc = {f[2]: float(f[4]) for f in lines}
    ours = ranking_metrics(
        frame["query"].tolist(),
        frame["label"].to_numpy(),
        np.array([by_doc[d] for d in frame["doc_id"]]),
        10,
    )["ndcg@10"]
    assert measured == pytest.approx(ours, abs=1e-9)


def test_batch_mode_streams_in_chunks(onnx_dir: Path, tmp_path: Path) -> None:
    """Chunks of 7 pairs (queries cut across chunks) give the run of one chunk."""
    from ranker.serve.batch import rerank_file
    from ranker.serve.rerank import Reranker

    _pairs_file(tmp_path / "pairs.tsv")
    reranker = Reranker(onnx_dir, "fp32", 1)
    runs = {}
    for chunk in (7, 4096):
        out = tmp_path / f"{chunk}.run"
        counts = rerank_file(
            reranker, pairs_path=str(tmp_path / "pairs.tsv"), run_path=str(out), chunk_pairs=chunk
        )
        assert counts == {"queries": 6, "pairs": 90}
        runs[chunk] = {
            tuple(f[:3]): float(f[4]) for f in (x.split() for x in out.read_text().splitlines())
        }
    assert runs[7].keys() == runs[4096].keys()
    assert runs[7] == pytest.approx(runs[4096], abs=1e-4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("query_id\tdoc_id\tquery\n", "the header lacks column(s) title"),
        (
            "query_id\tdoc_id\tquery\ttitle\nq1\td1\tcovid\tA\nq2\td2\tflu\tB\nq1\td3\tcovid\tC\n",
            "pairs.tsv:4: query_id q1 appears again after other queries",
        ),
        ("query_id\tdoc_id\tquery\ttitle\nq1\td1\tcovid\tA\nq1\td1\tcovid\tB\n", "doc_id d1 twice"),
        ("query_id\tdoc_id\tquery\ttitle\nq1\t\tcovid\tA\n", "pairs.tsv:2: doc_id '' is empty"),
        ("query_id\tdoc_id\tquery\ttitle\n", "no pairs to score"),
    ],
)
def test_batch_mode_bad_input_is_one_line_and_no_run_file(
    onnx_dir: Path, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "pairs.tsv").write_text(content)
    run = tmp_path / "out.run"
    proc = cli("-m", str(onnx_dir), "--pairs", str(tmp_path / "pairs.tsv"), "--run", str(run))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr
    assert not run.exists() and not list(tmp_path.glob(".out.run*"))


def _first_stage_files(tmp_path: Path) -> dict[str, Path]:
    """A first-stage run (another engine's: unsorted lines, its own tag), the queries as
    TSV and the documents as BEIR's corpus.jsonl."""
    (tmp_path / "bm25.run").write_text(
        "q2 Q0 d4 1 7.0 bm25\nq1 Q0 d2 2 5.5 bm25\nq1 Q0 d1 1 6.0 bm25\nq1 Q0 d3 3 1.0 bm25\n"
    )
    (tmp_path / "queries.tsv").write_text("q1\tcoronavirus origin\nq2\tmask efficacy\nq3\tx\n")
    docs = [
        ("d1", TITLES[0]),
        ("d2", TITLES[1]),
        ("d3", TITLES[2]),
        ("d4", "Masks work"),
        ("d9", ""),
    ]
    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": "abstract"}) + "\n" for d, t in docs)
    )
    return {
        "run": tmp_path / "bm25.run",
        "queries": tmp_path / "queries.tsv",
        "docs": tmp_path / "corpus.jsonl",
    }


def _first_stage_args(onnx_dir: Path, files: dict[str, Path], out: Path) -> list[str]:
    flags = {"--first-stage": "run", "--queries": "queries", "--docs": "docs"}
    named = [x for flag, key in flags.items() for x in (flag, str(files[key]))]
    return ["-m", str(onnx_dir), *named, "--run", str(out)]


def test_first_stage_run_is_reranked(onnx_dir: Path, tmp_path: Path) -> None:
    """Each query's candidates from another engine's run, in a TREC run file out, scored as
    the library scores them; --depth keeps each query's best N of the first stage."""
    from ranker.serve.rerank import Reranker

    files = _first_stage_files(tmp_path)
    out = tmp_path / "reranked.run"
    args = _first_stage_args(onnx_dir, files, out)
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "ranked 4 pairs of 2 queries" in proc.stderr
    lines = [line.split() for line in out.read_text().splitlines()]
    assert [f[0] for f in lines] == ["q2", "q1", "q1", "q1"]  # queries in run order
    expected = dict(
        zip(
            ["d1", "d2", "d3"],
            Reranker(onnx_dir, "fp32", 1).scores("coronavirus origin", TITLES),
            strict=True,
        )
    )
    assert {f[2]: float(f[4]) for f in lines if f[0] == "q1"} == pytest.approx(expected, abs=1e-4)
    assert cli(*args, "--depth", "2").returncode == 0
    kept = [line.split()[2] for line in out.read_text().splitlines()]
    assert sorted(kept) == ["d1", "d2", "d4"]  # q1's first-stage ranks 1 and 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"run": "q1 Q0 d1 1 6.0\n"}, "bm25.run:1: 5 field(s), expected 6"),
        ({"run": "q1 Q0 d1 one 6.0 x\n"}, "bm25.run:1: rank or score is not a number"),
        ({"run": "q1 Q0 d7 1 6.0 x\n"}, "corpus.jsonl: 1 document(s) of the run are not in it"),
        ({"run": "q5 Q0 d1 1 6.0 x\n"}, "queries.tsv: 1 query(s) of the run are not in it"),
        ({"docs": "not json\n"}, "corpus.jsonl:1: not a JSON object with _id and title"),
    ],
)
def test_first_stage_bad_input_is_one_line_and_no_run_file(
    onnx_dir: Path, tmp_path: Path, edit: dict[str, str], message: str
) -> None:
    files = _first_stage_files(tmp_path)
    for name, text in edit.items():
        files[name].write_text(text)
    out = tmp_path / "out.run"
    proc = cli(*_first_stage_args(onnx_dir, files, out))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr
    assert not out.exists()
    missing = cli("-m", str(onnx_dir), "--first-stage", str(files["run"]))
    assert missing.returncode == 1 and "--first-stage needs --queries" in missing.stderr


def test_first_stage_reads_the_projects_corpus(tmp_path: Path) -> None:
    """data/raw/corpus.parquet serves as --docs, streamed: only the run's documents kept."""
    from ranker.data.corpus import CorpusWriter
    from ranker.serve.first_stage import read_docs

    with CorpusWriter(tmp_path / "corpus.parquet") as corpus:
        corpus.add(["a", "b", "c"], ["Title a", "Title b", "Title c"])
    assert read_docs(str(tmp_path / "corpus.parquet"), {"a", "c"}) == {
        "a": "Title a",
        "c": "Title c",
    }
