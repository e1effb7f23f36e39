"""Benchmark: compose N text+HTML messages on one core and print the rate.

    .venv/bin/python bench/bench_compose.py [--n 10000] [--template colleague-warning]
        [--window-share 0.1]

Recipients are fictional; ``--window-share`` of them received their own fraudulent
message during the window (quoted in their warning, so rendered apart), the others
share one rendering per salutation. Prints messages/second and µs/message (wall
clock), and the CPU time per message.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import datetime, timedelta

from notify.addressbook.model import Recipient, SentMessage
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_recipient, sample_sender

TITLES = ("Cardiologue", "Pharmacien", "Infirmière", "", "Médecin généraliste", "Sage-femme")
CIVILITIES = ("M.", "Mme", "", "Dr")


def recipients(n: int, window_share: float) -> list[Recipient]:
    """N distinct fictional recipients, a share of them with their own window message."""
    every = max(1, round(1 / window_share)) if window_share > 0 else 0
    people = []
    for i in range(n):
        base = sample_recipient(i)
        window = []
        if every and i % every == 0:
            when = datetime(2026, 11, 26, 9, 0, tzinfo=PARIS) + timedelta(minutes=i)
            window = [SentMessage(when, f"Règlement de la facture n° {i}")]
        people.append(
            replace(
                base,
                title=TITLES[i % len(TITLES)],
                civility=CIVILITIES[i % len(CIVILITIES)],
                window_messages=window,
            )
        )
    return people


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of recipients")
    parser.add_argument("--template", default="colleague-warning")
    parser.add_argument("--window-share", type=float, default=0.1)
    args = parser.parse_args(argv)
    people = recipients(args.n, args.window_share)
    composer = Composer(load_template(args.template), sample_incident(), sample_sender())
    date = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
    size = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    campaign = "bench"
    for message in composer.compose_all(people, campaign_token=campaign, date=date):
        size += len(message.data)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"template: {args.template}, messages: {args.n}, bytes: {size}")
    print(f"messages/second: {args.n / elapsed:.0f}")
    print(f"µs/message: {elapsed / args.n * 1e6:.1f}")
    print(f"CPU µs/message: {cpu / args.n * 1e6:.1f} (the wall figures suffer on a busy machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
