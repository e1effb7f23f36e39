"""Bounce parser benchmark: accuracy against EXPECTED.json, and messages parsed per second.

Usage:
    .venv/bin/python bench/bench_bounces.py [--corpus DIR] [--limit N] [--seconds S]

Prints the recipient, status and permanent/transient accuracy over the corpus
(rules in tests/test_bounces_corpus.py, which this script reuses), the kind
accuracy, every miss, then the parsing throughput. ``--limit N`` uses only the
first N files (by name), for a quick smoke run.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from notify.bounces import iter_messages, parse_message

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "tests" / "data" / "bounces"


def load_rules() -> ModuleType:
    """Import tests/test_bounces_corpus.py (the comparison rules) from its path."""
    path = ROOT / "tests" / "test_bounces_corpus.py"
    spec = importlib.util.spec_from_file_location("bounce_corpus_rules", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def throughput(messages: list[bytes], seconds: float) -> tuple[int, float]:
    """Parse the messages over and over for about ``seconds``; return (count, elapsed)."""
    count = 0
    start = time.perf_counter()
    while True:
        for data in messages:
            parse_message(data)
        count += len(messages)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N files")
    parser.add_argument("--seconds", type=float, default=2.0, help="throughput run time")
    args = parser.parse_args(argv)

    rules = load_rules()
    names = sorted(rules.load_expected(args.corpus))[: args.limit]
    acc = rules.corpus_accuracy(args.corpus, names)
    for name in ("recipient", "status", "permanent"):
        print(f"{name} accuracy: {acc.ratio(name):.1%} ({getattr(acc, name)}/{acc.total})")
    print(f"kind accuracy: {acc.ratio('kind'):.1%} ({acc.kind}/{acc.files})")
    print(f"misses: {len(acc.misses)}")
    for miss in acc.misses:
        print(f"  - {miss}")

    messages = [data for name in names for _, data in iter_messages(args.corpus / name)]
    count, elapsed = throughput(messages, args.seconds)
    print(f"messages parsed per second: {count / elapsed:.0f} ({count} in {elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
