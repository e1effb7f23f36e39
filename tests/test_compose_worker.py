"""Composing in a child process (``[sending] compose_process``): the same messages,
and a child that never outlives its pass.

The child is a real process (``python -m notify.compose_process.child``); the sends go to
a :class:`notify.localserver.LocalServer` on 127.0.0.1. Child processes are found in
``/proc`` by their parent's pid and their command line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pipelinefaults import pipe_factory_fixture  # noqa: F401 - the fixture is found by its name
from sendhelpers import (
    NOTIFY,
    TEMPLATE,
    InProcess,
    address,
    assert_alone,
    cli_env,
    delivered,
    fault_server,
    finish,
    journal_states,
    notify,
    send_args,
    start,
    write_config,
    write_csv,
)
from smtpfaults import FAST, USER, ServerFactory, account_for, faults
from test_send_faults import people as numbered
from test_send_faults import records

from notify import sending
from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.campaign import campaign_token
from notify.compose import Composer, load_template
from notify.compose.mime import format_date
from notify.compose_process.parent import ComposeProcess
from notify.compose_process.protocol import CHILD, Job, error_from, error_to_json
from notify.deliver import Attempt, Outgoing
from notify.demo import demo_settings
from notify.errors import InputError, JournalError, NotifyError, QuotaPaused, TemplateError
from notify.journal import AttemptStart, Campaign, Journal
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration
ON = {"NOTIFY_SENDING__COMPOSE_PROCESS": "on", "PYTHONWARNINGS": "always::ResourceWarning"}
NOW = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
EARLIER = format_date(datetime(2026, 11, 27, 16, 5, 9, tzinfo=UTC))  # an uncertain's Date
STOPPED = (
    "stopped: the messages in flight were finished and recorded. "
    "Run the same command again to resume.\n"
)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """notify's CLI run in this process: its composing process is our child."""
    return InProcess(monkeypatch, capsys)


# -- finding the child ------------------------------------------------------------------


def composing_children(parent: int) -> list[int]:
    """The pids of the live composing processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and CHILD.encode() in cmdline:
            found.append(int(entry.name))
    return found


def exists(pid: int) -> bool:
    """Whether process ``pid`` exists at all, running or a zombie not yet reaped."""
    return Path(f"/proc/{pid}").exists()


def state_of(pid: int) -> str:
    """The process state letter of ``pid`` (R, S, Z...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@contextmanager
def watching(parent: int) -> Iterator[set[int]]:
    """Collect, every few milliseconds, the composing children of ``parent``."""
    seen: set[int] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.update(composing_children(parent))
            done.wait(0.005)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def wait_for(condition: object, timeout: float = 30) -> None:
    """Wait until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the same messages ------------------------------------------------------------------


def people() -> list[Recipient]:
    """Recipients in French and English, with an IDN domain and non-ASCII local parts."""
    found = []
    raw = [
        ("patient00000@exemple.net", "Jeanne Dupont", "fr"),
        ("john.smith@example.org", "John Smith", "en"),
        ("jérôme.lefèvre@exemple.fr", "Jérôme Lefèvre", "fr"),
        ("marie@hôpital-exemple.fr", "Marie Curie", "fr"),
        ("δοκιμή@παράδειγμα.δοκιμή", "Δοκιμή", "en"),
        ("patient00005@exemple.net", "", "de"),
    ]
    raw += [(address(n), f"Jeanne{n} Dupont-{n}", "fr" if n % 3 else "en") for n in range(6, 40)]
    for email, name, language in raw:
        cleaned = clean(email)
        found.append(
            Recipient(cleaned.email, cleaned.ascii_email, cleaned.key, name=name, language=language)
        )
    return found


def campaign_with_an_uncertain(journal: Journal) -> tuple[Campaign, Composer, str, str]:
    """A campaign of :func:`people`, one of them uncertain: (campaign, composer, token,
    that one's address)."""
    settings = demo_settings(25)
    composer = Composer(load_template(TEMPLATE), settings.incident, settings.sender)
    token = campaign_token(settings, TEMPLATE)
    campaign = sending.open_campaign(
        journal, settings, composer.template_set, template=TEMPLATE, token=token
    )
    journal.add_recipients(campaign.id, people())
    record = journal.to_send(campaign.id, limit=3)[2]
    journal.begin_attempts([AttemptStart(record.id, "<earlier@example.net>", EARLIER, "0" * 64)])
    assert journal.recover() == 1  # the run died while sending it: uncertain
    return campaign, composer, token, record.email


async def sent(
    journal: Journal,
    campaign: Campaign,
    composer: Composer,
    token: str,
    helper: ComposeProcess | None = None,
    *,
    wait: bool = False,
    pause_on_the_second_page: bool = False,
) -> list[tuple[Outgoing, Any]]:
    """Every (Outgoing, what the recorder remembered) of one pass, in order."""
    recorder = sending.JournalRecorder(journal)
    found: list[tuple[Outgoing, Any]] = []
    messages = sending.outgoing_messages(
        journal,
        campaign,
        composer,
        recorder,
        token=token,
        mail_from="secours.martin@example.net",
        clock=lambda: NOW,
        helper=helper,
        wait_for_helper=wait,
    )
    async with aclosing(messages):
        async for outgoing in messages:
            found.append((outgoing, recorder.in_flight[outgoing.ref]))
            if pause_on_the_second_page and helper is not None and len(found) == sending.PAGE + 1:
                await helper.wait_ready()  # started after the first page; the third is its
    return found


def job(journal: Journal, campaign: Campaign, composer: Composer, token: str) -> Job:
    return sending.job_for(
        journal.path,
        campaign.id,
        composer,
        token=token,
        roster=False,
        page=sending.PAGE,
        fixed_now_for_tests=NOW,
    )


async def test_the_child_sends_what_the_parent_would_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Languages, IDN and SMTPUTF8 addresses, an uncertain record: the child's
    Outgoing and remembered values are those of the in-process path; the uncertain
    one keeps its recorded Message-ID and Date. Then the same when the child, started
    after the first page, takes over from the third."""
    monkeypatch.setattr(sending, "PAGE", 7)
    with Journal.open(tmp_path / "incident.db") as journal, journal.sending_lock():
        campaign, composer, token, uncertain = campaign_with_an_uncertain(journal)
        here = await sent(journal, campaign, composer, token)
        child = ComposeProcess(job(journal, campaign, composer, token))
        there = await sent(journal, campaign, composer, token, child, wait=True)
        later = ComposeProcess(job(journal, campaign, composer, token))
        mixed = await sent(journal, campaign, composer, token, later, pause_on_the_second_page=True)
    assert len(here) == len(people())
    assert there == here
    assert child.received == len(here)
    assert mixed == here
    assert later.received == len(here) - 14  # the first two pages were composed here
    by_rcpt = {o.rcpt: (o, kept) for o, kept in here}
    outgoing, kept = by_rcpt[clean(uncertain).ascii_email]
    assert (kept.message_id, kept.date) == ("<earlier@example.net>", EARLIER)
    assert b"\r\nMessage-ID: <earlier@example.net>\r\n" in outgoing.data
    assert outgoing.data.startswith(f"Date: {EARLIER}\r\n".encode())
    utf8 = {o.rcpt for o, _ in here if o.needs_smtputf8}
    assert utf8 == {
        clean(a).ascii_email for a in ("jérôme.lefèvre@exemple.fr", "δοκιμή@παράδειγμα.δοκιμή")
    }
    assert clean("marie@hôpital-exemple.fr").ascii_email in by_rcpt
    for process in (child, later):
        assert process.pid is not None
        assert not exists(process.pid)


async def test_a_child_that_cannot_start_leaves_auto_in_process(tmp_path: Path) -> None:
    """ "auto": a child that dies before it is ready changes nothing, every message is
    composed here; "on": its death is the error, with the exit code and what it said."""
    with Journal.open(tmp_path / "incident.db") as journal, journal.sending_lock():
        campaign, composer, token, _ = campaign_with_an_uncertain(journal)
        here = await sent(journal, campaign, composer, token)
        script = "import sys; sys.stderr.write('no luck today\\n'); sys.exit(5)"
        quiet = Scripted(job(journal, campaign, composer, token), script)
        assert await sent(journal, campaign, composer, token, quiet) == here
        loud = Scripted(job(journal, campaign, composer, token), script)
        with pytest.raises(JournalError) as raised:
            await sent(journal, campaign, composer, token, loud, wait=True)
    assert raised.value.message == (
        "the composing process stopped unexpectedly (exit code 5): no luck today"
    )
    assert "Nothing was marked failed" in str(raised.value)
    assert quiet.received == loud.received == 0
    assert loud.pid is not None
    assert not exists(loud.pid)


class Scripted(ComposeProcess):
    """A composing process that runs ``script`` instead: a child that misbehaves."""

    def __init__(self, job: Job, script: str) -> None:
        super().__init__(job)
        self.script = script

    def command(self) -> tuple[str, ...]:
        return (sys.executable, "-c", self.script)


@pytest.mark.parametrize(
    ("script", "what"),
    [
        ("import sys; sys.stdout.buffer.write(b'Z' * 9)", "a frame of 1515870810 + "),
        ("import sys; sys.stdout.buffer.write(b'Q' + bytes(8))", "a 'Q' frame"),
        (
            "import sys, struct; w = sys.stdout.buffer.write; w(b'R' + bytes(8));"
            "w(struct.pack('>BII', 77, 3, 0) + b'1\\x002')",
            "an unreadable message header",
        ),
        (
            "import sys, struct; w = sys.stdout.buffer.write; w(b'R' + bytes(8));"
            "w(struct.pack('>BII', 69, 9, 0) + b'{\"type\":1')",
            "an unreadable error",
        ),
    ],
    ids=["sizes", "kind", "header", "error"],
)
async def test_garbage_from_the_child_is_a_clear_error(
    tmp_path: Path, script: str, what: str
) -> None:
    """A child writing what is not a frame: JournalError saying so, the child reaped."""
    with Journal.open(tmp_path / "incident.db") as journal, journal.sending_lock():
        campaign, composer, token, _ = campaign_with_an_uncertain(journal)
        helper = Scripted(job(journal, campaign, composer, token), script + "; input()")
        with pytest.raises(JournalError) as raised:
            await sent(journal, campaign, composer, token, helper, wait=True)
    assert raised.value.message.startswith("the composing process sent something unreadable: ")
    assert what in raised.value.message
    assert helper.pid is not None
    assert not exists(helper.pid)


@pytest.mark.parametrize(
    "error",
    [
        TemplateError("'x' is undefined", template="t.fr.j2", line=3, recipient="a@b.fr"),
        InputError("bad address", path="book.csv", line=7, hint="Fix it."),
        QuotaPaused("limit", resume_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC), hint="Later."),
        JournalError("cannot read"),
    ],
    ids=["template", "input", "quota", "journal"],
)
def test_an_error_frame_gives_back_the_same_exception(error: NotifyError) -> None:
    """Same class, same text, same attributes (the CLI prints message and hint)."""
    again = error_from(error_to_json(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)
    assert again.args == error.args


def test_auto_uses_a_child_for_a_large_pass_with_the_real_clock() -> None:
    """ "auto" needs 2,000 messages, two cores and notify send's clock."""
    cores = len(os.sched_getaffinity(0))
    assert sending.use_compose_process("auto", 2000, sending.real_clock) is (cores >= 2)
    assert not sending.use_compose_process("auto", 1999, sending.real_clock)
    assert not sending.use_compose_process("auto", 10**6, lambda: NOW)
    assert sending.use_compose_process("on", 1, lambda: NOW)
    assert not sending.use_compose_process("off", 10**6, sending.real_clock)


# -- notify send with a child -----------------------------------------------------------


def test_send_with_the_child_one_message_each_journal_all_sent(
    tmp_path: Path, cli: InProcess
) -> None:
    """compose_process = "on": everyone gets one message, alone in To; all recorded
    sent; the child ran beside this process and is gone (reaped) at the end."""
    book = write_csv(tmp_path / "contacts.csv", range(150))
    with LocalServer(tmp_path / "received") as server, watching(os.getpid()) as seen:
        write_config(tmp_path, server.port, connections=2)
        run = cli(tmp_path, *send_args(book), env=ON)
        items = delivered(server.maildir)
    assert run.code == 0, run.text
    assert Counter(assert_alone(i) for i in items) == Counter(address(n) for n in range(150))
    assert set(journal_states(tmp_path / "incident.db").values()) == {"sent"}
    assert len(seen) == 1, seen
    assert not any(exists(pid) for pid in seen)


def test_limit_stops_the_run_and_the_child_is_gone(tmp_path: Path, cli: InProcess) -> None:
    """--limit 5 of 300 with the child composing ahead: 5 sent, exit 0; the child,
    blocked on a full pipe, is killed and reaped (no zombie)."""
    book = write_csv(tmp_path / "contacts.csv", range(300))
    with LocalServer(tmp_path / "received") as server, watching(os.getpid()) as seen:
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book, more=["--limit", "5"]), env=ON)
        assert len(server.received) == 5
    assert run.code == 0, run.text
    assert "--limit 5 reached: 295 messages still to send." in run.out
    assert len(seen) == 1, seen
    assert not any(exists(pid) for pid in seen)
    assert Counter(journal_states(tmp_path / "incident.db").values()) == {"pending": 295, "sent": 5}


def boom_template(folder: Path) -> None:
    """``./templates/boom.fr.j2``: fails at its line 4 for the recipient number 3."""
    (folder / "templates").mkdir()
    (folder / "templates" / "boom.fr.j2").write_text(
        "{% block subject %}Attention{% endblock %}\n"
        "{% block text %}\n"
        "Bonjour {{ recipient.name }},\n"
        "{% if recipient.email == 'patient00003@exemple.net' %}{{ nowhere.to_be_found }}"
        "{% endif %}\n"
        "{% endblock %}\n",
        encoding="utf-8",
    )


def test_a_template_error_in_the_child_is_reported_as_in_process(
    tmp_path: Path, cli: InProcess
) -> None:
    """A template failing for one recipient: with or without the child, the same exit
    code, the same output (template, line, recipient; no traceback), the same journal:
    nobody failed, that one pending."""
    runs, journals = {}, {}
    for mode in ("off", "on"):
        folder = tmp_path / mode
        folder.mkdir()
        boom_template(folder)
        book = write_csv(folder / "contacts.csv", range(8))
        with LocalServer(folder / "received") as server:
            write_config(folder, server.port)
            run = cli(
                folder,
                "send",
                "--template",
                "boom",
                str(book),
                "--yes",
                env={"NOTIFY_SENDING__COMPOSE_PROCESS": mode},
            )
            runs[mode] = replace(run, out=run.out.replace(f":{server.port} ", ":PORT "))
        journals[mode] = journal_states(folder / "incident.db")
    assert journals["on"] == journals["off"]
    assert set(journals["on"].values()) <= {"sent", "pending"}
    assert journals["on"][address(3)] == "pending"
    assert runs["on"] == runs["off"]
    assert runs["on"].code == 2
    assert runs["on"].err.startswith(
        "error: template boom.fr.j2, line 4; recipient patient00003@exemple.net: "
        "'nowhere' is undefined\n"
    )
    assert "Traceback" not in runs["on"].text


@pytest.mark.slow
def test_the_child_killed_mid_run_is_a_clear_error_and_a_rerun_finishes(tmp_path: Path) -> None:
    """SIGKILL to the child while sending: exit 3 saying what happened and that nothing
    was marked failed; the journal holds sent and pending only; a rerun sends the rest,
    and everyone got exactly one message."""
    count = 600
    book = write_csv(tmp_path / "contacts.csv", range(count))
    with fault_server(tmp_path) as server:
        for n in range(count):
            faults(server).data_delay[address(n)] = 0.005
        write_config(tmp_path, server.port)
        parent = start(tmp_path, *send_args(book), env=ON)
        wait_for(lambda: len(server.received) >= 20 and composing_children(parent.pid))
        (child,) = composing_children(parent.pid)
        os.kill(child, signal.SIGKILL)
        stopped = finish(parent)
        assert stopped.code == 3, stopped.text
        assert stopped.err.splitlines()[-2:] == [
            "error: the composing process stopped unexpectedly (killed by signal 9)",
            "Nothing was marked failed: run the same command again to resume. If this "
            'happens again, set compose_process = "off" in the [sending] section of '
            "notify.toml.",
        ]
        assert "Traceback" not in stopped.text
        assert "Warning" not in stopped.text
        states = Counter(journal_states(tmp_path / "incident.db").values())
        assert set(states) == {"sent", "pending"}, states
        assert states["sent"] == len(server.received) < count
        assert not exists(child)
        rerun = notify(tmp_path, *send_args(book), env=ON)
        assert rerun.code == 0, rerun.text
    counts = Counter(item.envelope_to for item in delivered(tmp_path / "received"))
    assert counts == Counter(address(n) for n in range(count))
    assert set(journal_states(tmp_path / "incident.db").values()) == {"sent"}


@pytest.mark.slow
def test_sigint_to_the_process_group_stops_gracefully_and_reaps_the_child(
    tmp_path: Path,
) -> None:
    """The child ignores a SIGINT of its own; a terminal's Ctrl-C (SIGINT to the whole
    process group) stops the run gracefully: exit 130, the resume message, no error,
    and the child is reaped; the rerun completes, one message each."""
    count = 300
    book = write_csv(tmp_path / "contacts.csv", range(count))
    with fault_server(tmp_path) as server:
        for n in range(count):
            faults(server).data_delay[address(n)] = 0.01
        write_config(tmp_path, server.port)
        parent = subprocess.Popen(
            [str(NOTIFY), *send_args(book)],
            cwd=tmp_path,
            env=cli_env(ON),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        wait_for(lambda: len(server.received) >= 10 and composing_children(parent.pid))
        (child,) = composing_children(parent.pid)
        os.kill(child, signal.SIGINT)
        time.sleep(0.3)
        assert exists(child)
        assert state_of(child) != "Z"
        os.killpg(parent.pid, signal.SIGINT)
        stopped = finish(parent)
        assert stopped.code == 130, stopped.text
        assert stopped.err.endswith(STOPPED)
        assert "error" not in stopped.err
        assert "Traceback" not in stopped.err
        assert "Warning" not in stopped.err
        assert not exists(child)
        states = Counter(journal_states(tmp_path / "incident.db").values())
        assert set(states) == {"sent", "pending"}, states
        assert states["sent"] == len(server.received) < count
        rerun = notify(tmp_path, *send_args(book))
        assert rerun.code == 0, rerun.text
    counts = Counter(item.envelope_to for item in delivered(tmp_path / "received"))
    assert counts == Counter(address(n) for n in range(count))


def test_the_child_is_not_run_for_a_small_pass_by_default(tmp_path: Path, cli: InProcess) -> None:
    """ "auto" (the default) with 20 messages: no child process at all."""
    book = write_csv(tmp_path / "contacts.csv", range(20))
    with LocalServer(tmp_path / "received") as server, watching(os.getpid()) as seen:
        write_config(tmp_path, server.port)
        run = cli(tmp_path, *send_args(book))
        assert len(server.received) == 20
    assert run.code == 0, run.text
    assert seen == set()


def test_asyncio_is_left_clean(tmp_path: Path) -> None:
    """A pass with the child run in a fresh event loop leaves no task behind."""

    async def one_pass() -> int:
        with Journal.open(tmp_path / "incident.db") as journal, journal.sending_lock():
            campaign, composer, token, _ = campaign_with_an_uncertain(journal)
            helper = ComposeProcess(job(journal, campaign, composer, token))
            found = await sent(journal, campaign, composer, token, helper, wait=True)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, others
        return len(found)

    assert asyncio.run(one_pass()) == len(people())


async def test_a_second_pass_gets_a_child_of_its_own(
    pipe_factory: ServerFactory, ca_file: Path, tmp_path: Path
) -> None:
    """A recipient marked by hand while queued stops the pass (RecipientWithdrawn);
    send_campaign's next pass starts a new child: everyone else is sent, that one is
    not, two children ran one after the other, and neither is left."""
    server = await pipe_factory()
    db = tmp_path / "incident.db"

    def mark_once(attempt: Attempt) -> None:
        if attempt.ref == 1:
            with Journal.open(db, create=False) as other:
                other.mark(address(5), "notified-other", "phoned on 27/11")

    settings = demo_settings(server.port)
    composer = Composer(load_template(TEMPLATE), settings.incident, settings.sender)
    token = campaign_token(settings, TEMPLATE)
    with watching(os.getpid()) as seen, Journal.open(db) as journal, journal.sending_lock():
        campaign = sending.open_campaign(
            journal, settings, composer.template_set, template=TEMPLATE, token=token
        )
        journal.add_recipients(campaign.id, numbered(8))
        summary = await sending.send_campaign(
            journal,
            campaign,
            composer,
            account_for(server, ca_file),
            replace(FAST, pipeline_batch=2),
            token=token,
            mail_from=USER,
            clock=lambda: NOW,
            on_attempt=mark_once,
            compose_process="on",
        )
    found = records(db)
    assert summary.sent == 7
    assert found[address(5)].state == "notified-other"
    assert {found[address(n)].state for n in range(8) if n != 5} == {"sent"}
    assert len(seen) == 2, seen
    assert not any(exists(pid) for pid in seen)
