"""Benchmark of the Sent-folder reader: messages per second and peak memory.

Generates an mbox of --n fictional messages (text bodies of --body-kb KiB, and a
base64 attachment of --attachment-kb KiB on every --attachment-every-th message)
in a temporary folder, reads it with read_sent_folder, and prints the figures.

    .venv/bin/python bench/bench_sentfolder.py                 # 20,000 messages
    .venv/bin/python bench/bench_sentfolder.py --n 10000 --attachment-every 1 \\
        --attachment-kb 200                                    # about 2.7 GB
    .venv/bin/python bench/bench_sentfolder.py --mbox Sent     # time a real folder
    .venv/bin/python bench/bench_sentfolder.py --compare-stdlib

--compare-stdlib also times the standard library's mailbox.mbox reading every
message (what a reader built on it does); it runs after ours, so the peak RSS
printed for it is the process peak so far.
"""

from __future__ import annotations

import argparse
import base64
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path

from notify.addressbook.model import Entry
from notify.addressbook.sentfolder import read_sent_folder

OWNER = "dr.martin@exemple.fr"
START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
SUBJECTS = [
    b"=?utf-8?q?R=C3=A9sultats_d=27analyses?=",
    b"Compte rendu de consultation",
    b"=?utf-8?q?Facture_impay=C3=A9e_=E2=80=93_urgent?=",
    b"Re: rendez-vous",
]


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _message(rng: random.Random, index: int, body: bytes, attachment: bytes) -> bytes:
    date = START + timedelta(minutes=25 * index)
    people = [f"correspondant{rng.randrange(600)}@example.org" for _ in range(rng.randint(1, 3))]
    head = [
        f"From {OWNER} {date:%a %b %d %H:%M:%S %Y}".encode(),
        b'From: "Dr Claire Martin" <' + OWNER.encode() + b">",
        b"To: " + b", ".join(f"Corresp {p[14:-12]} <{p}>".encode() for p in people),
        f"Date: {format_datetime(date)}".encode(),
        b"Subject: " + SUBJECTS[index % len(SUBJECTS)],
        f"Message-ID: <{index}@exemple.fr>".encode(),
        b"MIME-Version: 1.0",
    ]
    if index % 7 == 0:
        head.append(b"Cc: secretariat@exemple.fr")
    if index % 97 == 0:
        head.append(b"Bcc: " + b", ".join(f"b{n}@example.org".encode() for n in range(40)))
    if not attachment:
        head += [b"Content-Type: text/plain; charset=utf-8", b"", body]
        return b"\n".join(head) + b"\n\n"
    head += [
        b'Content-Type: multipart/mixed; boundary="b"',
        b"",
        b"--b\nContent-Type: text/plain; charset=utf-8\n\n" + body,
        b"--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + attachment,
        b"--b--",
    ]
    return b"\n".join(head) + b"\n\n"


def _base64_lines(kib: int, rng: random.Random) -> bytes:
    raw = rng.randbytes(kib * 1024 * 3 // 4)
    text = base64.b64encode(raw)
    return b"\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def generate(path: Path, n: int, body_kib: int, attachment_kib: int, every: int) -> None:
    """Write ``n`` fictional sent messages to the mbox ``path``, streaming."""
    rng = random.Random(20261126)
    line = "Cher confrère, voici les éléments demandés. Bien confraternellement.\n"
    body = (line * max(1, body_kib * 1024 // len(line))).encode()
    attachment = _base64_lines(attachment_kib, rng) if attachment_kib and every else b""
    with path.open("wb") as stream:
        for index in range(n):
            with_attachment = attachment if every and index % every == 0 else b""
            stream.write(_message(rng, index, body, with_attachment))


def _time_notify(path: Path) -> tuple[float, int, int]:
    window = (START, START + timedelta(days=3650))
    started = time.perf_counter()
    recipients = problems = 0
    for item in read_sent_folder(path, owner=OWNER, window=window):
        if isinstance(item, Entry):
            recipients += 1
        else:
            problems += 1
    return time.perf_counter() - started, recipients, problems


def _stdlib_messages(path: Path) -> Iterator[bytes]:
    import mailbox  # noqa: PLC0415 - only for the comparison

    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


def _time_stdlib(path: Path) -> tuple[float, int]:
    parser = BytesHeaderParser()
    started = time.perf_counter()
    count = sum(1 for data in _stdlib_messages(path) if parser.parsebytes(data)["From"] is not None)
    return time.perf_counter() - started, count


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages to generate")
    parser.add_argument("--body-kb", type=int, default=4, help="KiB of text per message")
    parser.add_argument("--attachment-kb", type=int, default=256, help="KiB per attachment")
    parser.add_argument("--attachment-every", type=int, default=50, help="0: no attachments")
    parser.add_argument("--mbox", type=Path, help="read this mbox instead of generating one")
    parser.add_argument("--compare-stdlib", action="store_true", help="also time mailbox.mbox")
    return parser.parse_args()


def _run(path: Path, args: argparse.Namespace) -> None:
    size_mib = path.stat().st_size / (1 << 20)
    before = _peak_rss_mib()
    seconds, recipients, problems = _time_notify(path)
    messages = args.n if args.mbox is None else -1
    print(f"file size: {size_mib:.1f} MiB")
    print(f"recipients: {recipients}")
    print(f"problems: {problems}")
    print(f"seconds: {seconds:.3f}")
    if messages >= 0:
        print(f"messages: {messages}")
        print(f"messages/second: {messages / max(seconds, 1e-9):.0f}")
    print(f"MiB/second: {size_mib / max(seconds, 1e-9):.1f}")
    print(f"peak RSS before reading: {before:.1f} MiB")
    print(f"peak RSS: {_peak_rss_mib():.1f} MiB")
    if args.compare_stdlib:
        stdlib_seconds, count = _time_stdlib(path)
        print(f"stdlib mailbox.mbox seconds: {stdlib_seconds:.3f} ({count} messages)")
        print(f"stdlib messages/second: {count / max(stdlib_seconds, 1e-9):.0f}")
        print(f"stdlib peak RSS (process so far): {_peak_rss_mib():.1f} MiB")


def main() -> None:
    """Generate (or take) an mbox, read it, print the figures."""
    args = _arguments()
    if args.mbox is not None:
        _run(args.mbox, args)
        return
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as folder:
        path = Path(folder) / "Sent.mbox"
        generate(path, args.n, args.body_kb, args.attachment_kb, args.attachment_every)
        _run(path, args)


if __name__ == "__main__":
    main()
