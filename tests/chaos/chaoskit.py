"""Helpers for the chaos suite: a seeded fault-injecting server, the CLI, the checks.

Every server is notify's own :class:`notify.localserver.LocalServer` on 127.0.0.1
(port 0, its own thread); every ``notify`` runs as a real process
(``.venv/bin/notify``) in the test's folder, with no terminal. Nothing connects
anywhere but the loopback address.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import IO, Any

from sendhelpers import (
    Run,
    cli_env,
    notify,  # noqa: F401 - re-exported for the chaos tests
)

from notify.journal import Journal, RecipientRecord
from notify.localserver import LocalServer, MaildirHandler

NOTIFY = Path(sys.executable).with_name("notify")
SENDER = "secours.martin@exemple.org"
TEMPLATE = "colleague-warning"

_CONFIG = """\
[incident]
kind = "mailbox-hijack"
compromised_address = "dr.martin@exemple.fr"
window_start = 2026-11-26T08:00:00+01:00
window_end = 2026-11-27T18:00:00+01:00
aware_at = 2026-11-27T09:15:00+01:00

[sender]
address = "{sender}"
name = "Dr Claire Martin"
profession = "médecin"
phone = "+33 4 00 00 00 00"
organization = "Cabinet du Dr Martin"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
timeout = {timeout}

[sending]
{sending}
"""


def write_config(folder: Path, port: int, *, timeout: float = 5.0, **sending: int | float) -> Path:
    """``notify.toml`` for a local server on ``port`` (no TLS, no login: loopback only)."""
    values: dict[str, int | float] = {"retry_min_seconds": 0.01, "retry_max_seconds": 0.05}
    values.update(sending)
    lines = "\n".join(f"{key} = {value}" for key, value in values.items())
    path = folder / "notify.toml"
    path.write_text(
        _CONFIG.format(port=port, timeout=timeout, sender=SENDER, sending=lines), encoding="utf-8"
    )
    return path


def address(number: int) -> str:
    """The fictional address of recipient ``number``."""
    return f"patient{number:05d}@exemple.net"


def write_book(path: Path, count: int) -> Path:
    """A CSV address book of ``count`` fictional recipients."""
    rows = ["email,first name,last name"]
    rows += [f"{address(n)},Jeanne{n},Dupont-{n}" for n in range(count)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@dataclass
class Child:
    """A ``notify`` process started by :func:`start`; its output goes to ``log``."""

    process: subprocess.Popen[str]
    log: IO[str]

    def poll(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.process.poll()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to this process (by its own pid)."""
        self.process.send_signal(signum)


def start(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Child:
    """Start ``notify ARGS`` in ``cwd`` without waiting (output to a file, never a pipe
    that could fill up while the test is not reading it)."""
    log = (cwd / f".out-{time.monotonic_ns()}").open("w+", encoding="utf-8")
    process = subprocess.Popen(
        [str(NOTIFY), *args],
        cwd=cwd,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Child(process, log)


def finish(child: Child, timeout: float = 120) -> Run:
    """Wait for ``child``; stdout and stderr together are in ``Run.out``."""
    try:
        code = child.process.wait(timeout=timeout)
    finally:
        child.log.seek(0)
        text = child.log.read()
        child.log.close()
    return Run(code, text, "")


def kill(child: Child) -> Run:
    """SIGKILL ``child`` (by its own pid), reap it, return what it printed."""
    if child.poll() is None:
        child.signal(signal.SIGKILL)
    return finish(child, timeout=20)


def send_args(*sources: Path | str, more: Iterable[str] = ()) -> list[str]:
    """``send --template TEMPLATE SOURCES... --yes`` plus ``more``."""
    return ["send", "--template", TEMPLATE, *map(str, sources), "--yes", *more]


def wait_until(predicate: Any, timeout: float, step: float = 0.005) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# -- what the server stored ---------------------------------------------------------

_PARSER = BytesParser(policy=email.policy.compat32)


@dataclass(frozen=True)
class Stored:
    """One message the server accepted: envelope, To, Message-ID."""

    rcpt_tos: tuple[str, ...]
    to: list[str]
    cc: list[str]
    bcc: list[str]
    message_id: str


def stored(server: LocalServer) -> list[Stored]:
    """Every accepted transaction, with the headers that matter parsed."""
    found = []
    for item in server.received:
        head = _PARSER.parsebytes(item.data, headersonly=True)
        found.append(
            Stored(
                item.rcpt_tos,
                [a for _, a in getaddresses(head.get_all("To", []))],
                [a for _, a in getaddresses(head.get_all("Cc", []))],
                [a for _, a in getaddresses(head.get_all("Bcc", []))],
                str(head.get("Message-ID", "")).strip(),
            )
        )
    return found


def by_recipient(items: Iterable[Stored]) -> dict[str, list[Stored]]:
    """The stored messages of each envelope recipient."""
    found: dict[str, list[Stored]] = defaultdict(list)
    for item in items:
        assert len(item.rcpt_tos) == 1, f"one message for {item.rcpt_tos}"
        found[item.rcpt_tos[0]].append(item)
    return found


def assert_alone(item: Stored) -> None:
    """The recipient alone: one envelope recipient, To is that address, no Cc/Bcc."""
    assert len(item.rcpt_tos) == 1
    assert item.to == [item.rcpt_tos[0]], (item.to, item.rcpt_tos)
    assert item.cc == []
    assert item.bcc == []


# -- what the journal says ------------------------------------------------------------


@dataclass
class JournalView:
    """The only campaign of a journal: records, events that matter, chain check."""

    records: dict[str, RecipientRecord]
    ever_uncertain: set[str]
    counts: Counter[str]
    intact: bool
    events: dict[int, list[str]] = field(default_factory=dict)


def read_journal(path: Path) -> JournalView:
    """Open the journal read-mostly and summarise it."""
    with Journal.open(path, create=False) as journal:
        (campaign,) = journal.campaigns()
        records = {r.email: r for r in journal.iter_recipients(campaign.id)}
        by_id = {r.id: r.email for r in records.values()}
        uncertain: set[str] = set()
        kinds: dict[int, list[str]] = defaultdict(list)
        for event in journal.events():
            rid = event.recipient_id
            if rid is None or rid not in by_id:
                continue
            kinds[rid].append(event.kind)
            if event.state_to == "uncertain" or event.data.get("outcome") == "uncertain":
                uncertain.add(by_id[rid])
        intact = journal.verify() is None
    counts = Counter(r.state for r in records.values())
    return JournalView(records, uncertain, counts, intact, dict(kinds))


# -- a seeded chaos handler --------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Probabilities of each fault, per RCPT or per DATA (the rest is accepted)."""

    r421: float = 0.01
    r451: float = 0.03
    r452: float = 0.02
    r550: float = 0.01
    stall_rcpt: float = 0.002
    d451: float = 0.01
    d554: float = 0.01
    drop: float = 0.01  # dropped in DATA (half after the server stored the message)
    stall_data: float = 0.002  # no reply before the client's timeout (half stored)
    sticky: float = 0.004  # recipients that always get 451 (the client gives up)


class ChaosHandler(MaildirHandler):
    """A server that answers 421/451/452/550/554, drops and stalls, at random.

    The draw depends only on (seed, recipient, how many times it was seen), never on
    the order in which connections arrive, so a seed gives the same faults to the
    same recipients whatever the concurrency. Every DATA is logged (stored or not).
    """

    def __init__(self, maildir: Path, *, seed: int, stall: float, mix: Mix = Mix()) -> None:
        super().__init__(maildir)
        self.seed, self.stall, self.mix = seed, stall, mix
        self.rcpt_seen: Counter[str] = Counter()
        self.data_seen: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (rcpt, what, attempt)

    def _draw(self, what: str, rcpt: str, number: int) -> float:
        key = f"{self.seed}|{what}|{rcpt}|{number}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Answer a fault or accept, as the draw says."""
        self.rcpt_seen[address] += 1
        number = self.rcpt_seen[address]
        m = self.mix
        if self._draw("sticky", address, 0) < m.sticky:
            return self._logged(address, "451-sticky", number, "451 4.3.0 Try again later")
        x = self._draw("rcpt", address, number)
        for limit, reply in (
            (m.r421, "421 4.3.2 Service shutting down, closing channel"),
            (m.r451, "451 4.3.0 Try again later"),
            (m.r452, "452 4.3.1 Insufficient system storage"),
            (m.r550, "550 5.1.1 No such user here"),
        ):
            if x < limit:
                if reply.startswith("421"):
                    asyncio.get_running_loop().call_soon(server.transport.close)
                return self._logged(address, reply[:3], number, reply)
            x -= limit
        if x < m.stall_rcpt:
            self.log.append((address, "stall-rcpt", number))
            await asyncio.sleep(self.stall)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    def _logged(self, rcpt: str, what: str, number: int, reply: str) -> str:
        self.log.append((rcpt, what, number))
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store and accept, or answer a fault, drop or stall, as the draw says."""
        rcpt = envelope.rcpt_tos[0]
        self.data_seen[rcpt] += 1
        number = self.data_seen[rcpt]
        m = self.mix
        x = self._draw("data", rcpt, number)
        half = self._draw("half", rcpt, number) < 0.5
        if x < m.d451:
            return self._logged(rcpt, "451-data", number, "451 4.3.0 Local error in processing")
        x -= m.d451
        if x < m.d554:
            return self._logged(rcpt, "554", number, "554 5.7.1 Message refused by policy")
        x -= m.d554
        if x < m.drop:
            self.log.append((rcpt, "drop-stored" if half else "drop", number))
            if half:
                self.store(session, envelope)
            server.transport.close()
            await asyncio.Event().wait()  # cancelled when the connection is lost
        x -= m.drop
        if x < m.stall_data:
            self.log.append((rcpt, "stall-stored" if half else "stall", number))
            if half:
                self.store(session, envelope)
            await asyncio.sleep(self.stall)  # the client gives up first
            return "451 4.3.0 Too late"
        self.log.append((rcpt, "stored", number))
        return await super().handle_DATA(server, session, envelope)


class SlowHandler(MaildirHandler):
    """Stores each message, then waits ``delay`` before the 250: the window in which
    the message is accepted but the client has not recorded it yet."""

    def __init__(self, maildir: Path, *, delay: float) -> None:
        super().__init__(maildir)
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store, wait, then accept."""
        record = self.store(session, envelope)
        await asyncio.sleep(self.delay)
        return f"250 2.0.0 OK: queued as {record.path.name.split('.')[1]}"


def assert_mailbox_agrees(
    server: LocalServer, view: JournalView, *, all_final: bool
) -> dict[str, list[Stored]]:
    """The server's log and the journal agree, recipient by recipient.

    - every stored message is for one recipient alone, with the journal's Message-ID;
    - ``sent``: stored at least once; more than once only if the journal marked it
      uncertain at some point (a kill or a lost reply);
    - ``failed``: never stored, unless it was uncertain once;
    - ``uncertain`` (or ``sending``, left by a killed process): stored at most once
      unless it was marked uncertain before;
    - with ``all_final``, nothing is left pending, deferred or sending.
    """
    mailbox = by_recipient(stored(server))
    unknown = set(mailbox) - set(view.records)
    assert not unknown, f"stored for people not in the journal: {sorted(unknown)[:5]}"
    for email_address, record in view.records.items():
        copies = mailbox.get(email_address, [])
        for item in copies:
            assert_alone(item)
            assert item.message_id == record.message_id, (email_address, item.message_id)
        was_uncertain = email_address in view.ever_uncertain
        if record.state == "sent":
            assert copies, f"{email_address} is 'sent' but the server has no message"
            assert len(copies) == 1 or was_uncertain, (
                f"{email_address} stored {len(copies)} times, never recorded uncertain"
            )
        elif record.state == "failed":
            assert not copies or was_uncertain, f"{email_address} failed yet stored"
        elif record.state in ("uncertain", "sending"):  # sending: its process was killed
            assert len(copies) <= 1 or was_uncertain
        else:
            assert not all_final, f"{email_address} left {record.state}"
            assert not copies or was_uncertain, f"{email_address} {record.state} yet stored"
    return mailbox
