"""`ranker-rerank`: rerank candidate titles for a query, or a file of pairs, from the shell.

    ranker-rerank --model-dir models/onnx --query "coronavirus origin" titles.txt
    printf 'title one\\ntitle two\\n' | ranker-rerank --model-dir models/onnx -q "..." --json

Batch mode (ranker/serve/batch.py): a file of (query_id, doc_id, query, title) rows in, a TREC
run file out, streamed:

    ranker-rerank --pairs candidates.tsv --run reranked.run

Or another engine's first-stage run with the queries' and documents' texts
(ranker/serve/first_stage.py), its top 100 of each query reranked:

    ranker-rerank --first-stage bm25.run --queries queries.tsv --docs corpus.jsonl \\
        --depth 100 --run reranked.run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ranker.files import decode_utf8, not_utf8
from ranker.serve.batch import rerank_file
from ranker.serve.first_stage import check_path, first_stage_pairs
from ranker.serve.rerank import Reranker, RerankError


def _decode(data: bytes, name: str) -> str:
    try:
        return decode_utf8(data, name)
    except ValueError as exc:
        raise RerankError(str(exc)) from None


def _argument(value: str, name: str) -> str:
    """A command-line argument as text. The shell hands over bytes, and Python keeps those
    that are not UTF-8 as lone surrogates, which no tokenizer takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(value)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RerankError(not_utf8(name, raw, exc.start, line=None)) from None
        raise RerankError(f"{name}: not valid text") from None
    return value


def _stdin() -> str:
    return _decode(sys.stdin.buffer.read(), "stdin")


def _read_titles(args: argparse.Namespace) -> list[str]:
    lines = [_argument(t, f"title {i}") for i, t in enumerate(args.titles, start=1)]
    if args.file:
        if args.file == "-":
            text = _stdin()
        else:
            try:
                text = _decode(Path(args.file).read_bytes(), args.file)
            except OSError as exc:
                raise RerankError(f"{args.file}: cannot read ({exc.strerror})") from None
        lines.extend(text.splitlines())
    elif not lines and not sys.stdin.isatty():
        lines.extend(_stdin().splitlines())
    return [t.strip() for t in lines if t.strip()]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line and exit status 2, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ranker-rerank", description="Sort candidate titles by relevance to a query."
    )
    parser.add_argument("-q", "--query", help="the query (not with --pairs)")
    parser.add_argument("titles", nargs="*", help="candidate titles (else --file or stdin)")
    parser.add_argument("-f", "--file", help="file with one title per line ('-' for stdin)")
    parser.add_argument("-m", "--model-dir", default="models/onnx")
    parser.add_argument("--int8", action="store_true", help="use model.int8.onnx")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--top", type=_int_at_least(1), help="print only the best N")
    parser.add_argument("--batch-size", type=_int_at_least(1), default=32)
    parser.add_argument(
        "--threads", type=_int_at_least(0), default=0, help="ONNX Runtime threads (0: all)"
    )
    batch = parser.add_argument_group("batch mode")
    batch.add_argument(
        "--pairs", help="TSV (or .csv) with query_id, doc_id, query, title columns ('-': stdin)"
    )
    batch.add_argument(
        "--first-stage", help="TREC run file of candidates to rerank (with --queries, --docs)"
    )
    batch.add_argument("--queries", help="--first-stage: query_id<TAB>text TSV, or BEIR JSONL")
    batch.add_argument(
        "--docs", help="--first-stage: doc_id<TAB>title TSV, BEIR corpus JSONL, or Parquet"
    )
    batch.add_argument(
        "--depth", type=_int_at_least(1), help="--first-stage: rerank each query's best N only"
    )
    batch.add_argument("--run", default="-", help="TREC run file to write ('-': stdout)")
    batch.add_argument("--run-name", default="ranker", help="the run file's last column")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.pairs is not None or args.first_stage is not None:
        return _batch(args)
    try:
        if args.query is None:
            raise RerankError("give a query (-q) or a file of pairs (--pairs)")
        if not _argument(args.query, "-q").strip():
            raise RerankError("empty query")
        titles = _read_titles(args)
        if not titles:
            raise RerankError("no candidate titles (give them as arguments, --file, or on stdin)")
        ranker = Reranker(args.model_dir, "int8" if args.int8 else "fp32", args.threads)
        ranked = ranker.rerank(args.query, titles, args.batch_size)
    except (RerankError, OSError) as exc:  # OSError: a full disk, a vanished folder
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.top is not None:
        ranked = ranked[: args.top]
    if args.json:
        payload = [
            {"rank": i + 1, "score": r.score, "title": r.title} for i, r in enumerate(ranked)
        ]
        print(json.dumps({"query": args.query, "results": payload}, indent=2))
    else:
        for r in ranked:
            print(f"{r.score:+.4f}\t{r.title}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    try:
        mode = "--pairs" if args.first_stage is None else "--first-stage"
        if args.query is not None or args.titles or args.file:
            raise RerankError(f"{mode} takes its queries and titles from files; drop -q/titles")
        if args.pairs is not None and args.first_stage is not None:
            raise RerankError("give --pairs or --first-stage, not both")
        pairs = None
        if args.first_stage is not None:
            pairs = first_stage_pairs(
                run_path=check_path(args.first_stage, "--first-stage"),
                queries_path=check_path(args.queries, "--queries"),
                docs_path=check_path(args.docs, "--docs"),
                depth=args.depth,
            )
        elif args.queries or args.docs or args.depth:
            raise RerankError("--queries, --docs and --depth go with --first-stage")
        ranker = Reranker(args.model_dir, "int8" if args.int8 else "fp32", args.threads)
        counts = rerank_file(
            ranker,
            pairs_path=args.pairs or args.first_stage,
            run_path=args.run,
            run_name=args.run_name,
            batch_size=args.batch_size,
            pairs=pairs,
        )
    except (RerankError, OSError) as exc:  # OSError: a full disk, a vanished folder
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ranked {counts['pairs']} pairs of {counts['queries']} queries", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
