"""Soak: thousands of recipients through notify.sending.send_campaign (what `notify send`
runs, in this process: twice as fast as the CLI) against a server that misbehaves.

The server (127.0.0.1) answers 421, 451, 452, 550 or 554 at random (seeded per
recipient), drops 1 % of the transactions in DATA (half of them after storing the
message, as when the reply is lost), and sometimes stalls past the client's timeout.
The run ends with every recipient in a final state that agrees with the server's
log: nobody lost, nobody stored twice unless the journal marked them uncertain.

NOTIFY_SOAK_N sets the number of recipients (default 3,000; 20,000 by hand), and
NOTIFY_SOAK_SEED the seed (default 20261127).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chaoskit import (
    SENDER,
    TEMPLATE,
    ChaosHandler,
    Mix,
    address,
    assert_mailbox_agrees,
    read_journal,
)

from notify import sending
from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.campaign import campaign_token
from notify.compose import Composer, load_template
from notify.deliver import Account, DeliverySummary, Policy
from notify.demo import demo_settings
from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

SOAK_N = int(os.environ.get("NOTIFY_SOAK_N", "3000"))
SEED = int(os.environ.get("NOTIFY_SOAK_SEED", "20261127"))
TIMEOUT = 0.5  # the client's SMTP timeout
STALL = 1.5  # how long a stalled server waits: past the timeout
MAX_ATTEMPTS = 5
POLICY = Policy(
    connections=4, max_attempts=MAX_ATTEMPTS, retry_min=0.01, retry_max=0.05, cancel_grace=2.0
)


def people(count: int) -> list[Recipient]:
    """``count`` fictional recipients."""
    found = []
    for n in range(count):
        cleaned = clean(address(n))
        found.append(Recipient(cleaned.email, cleaned.ascii_email, cleaned.key, name=f"J {n}"))
    return found


def send_once(journal_path: Path, port: int, recipients: list[Recipient]) -> DeliverySummary:
    """One sending run as `notify send` does it: lock, recover, add, send."""
    settings = demo_settings(port)
    composer = Composer(load_template(TEMPLATE), settings.incident, settings.sender)
    token = campaign_token(settings, TEMPLATE)
    account = Account(host="127.0.0.1", port=port, security="none", timeout=TIMEOUT)
    with Journal.open(journal_path) as journal, journal.sending_lock():
        journal.recover()
        campaign = sending.open_campaign(
            journal, settings, composer.template_set, template=TEMPLATE, token=token
        )
        journal.add_recipients(campaign.id, recipients)
        return asyncio.run(
            sending.send_campaign(
                journal,
                campaign,
                composer,
                account,
                POLICY,
                token=token,
                mail_from=SENDER,
                clock=lambda: datetime.now(UTC),
            )
        )


def test_soak_every_recipient_ends_final_and_agrees_with_the_server(tmp_path: Path) -> None:
    """N recipients, random 421/451/452/550/554, 1 % drops in DATA, stalls past the
    timeout: every recipient ends sent, failed or uncertain; the mailbox agrees; a
    resume sends the uncertain ones again with the same Message-ID and nothing else."""
    book = people(SOAK_N)
    db = tmp_path / "incident.db"
    handler = ChaosHandler(tmp_path / "received", seed=SEED, stall=STALL)
    with LocalServer(handler.maildir, handler=handler, idle_timeout=30) as server:
        began = time.monotonic()
        summary = send_once(db, server.port, book)
        took = time.monotonic() - began
        view = read_journal(db)
        assert view.intact
        assert len(view.records) == SOAK_N
        assert set(view.counts) <= {"sent", "failed", "uncertain"}, view.counts
        assert_mailbox_agrees(server, view, all_final=True)

        # What the server refused for good is what the journal calls failed.
        refused = {rcpt for rcpt, what, _ in handler.log if what in ("550", "554")}
        sticky = {rcpt for rcpt, what, _ in handler.log if what == "451-sticky"}
        failed = {a for a, r in view.records.items() if r.state == "failed"}
        assert failed == refused | sticky
        assert all(view.records[a].attempts == MAX_ATTEMPTS for a in sticky)
        assert all(handler.rcpt_seen[a] == MAX_ATTEMPTS for a in sticky)
        # A recipient refused for good was never tried again: the refusal is the last
        # thing the server saw of them.
        last = {rcpt: what for rcpt, what, _ in handler.log}
        assert all(last[a] in ("550", "554") for a in refused)
        lost = [what for _, what, _ in handler.log if what in ("drop", "stall")]
        kept = [what for _, what, _ in handler.log if what in ("drop-stored", "stall-stored")]
        assert lost, "the seed should drop or stall some before storing"
        assert kept, "the seed should drop or stall some after storing"
        uncertain = {a for a, r in view.records.items() if r.state == "uncertain"}
        assert len(uncertain) == len(lost) + len(kept)
        assert (summary.sent, summary.uncertain) == (view.counts["sent"], len(uncertain))
        assert summary.permanent + summary.gave_up == len(failed)

        # Resume on a server that behaves: the uncertain ones go again, identical.
        handler.mix = Mix(0, 0, 0, 0, 0, 0, 0, 0, 0, sticky=handler.mix.sticky)
        before = len(server.received)
        again = send_once(db, server.port, book)
        assert (again.sent, again.attempts) == (len(uncertain), len(uncertain))
        resent = [r.rcpt_tos[0] for r in server.received[before:]]
        assert Counter(resent) == Counter(uncertain)
        final = read_journal(db)
        assert final.intact
        assert set(final.counts) <= {"sent", "failed"}
        mailbox = assert_mailbox_agrees(server, final, all_final=True)
        twice = {a for a, copies in mailbox.items() if len(copies) > 1}
        assert twice <= final.ever_uncertain
        assert len(mailbox) == final.counts["sent"]
        assert address(0) in final.records
    print(
        f"\nsoak: {SOAK_N} recipients, first run {took:.1f} s, "
        f"{len(server.received)} stored, states {dict(view.counts)}, "
        f"faults {dict(Counter(w for _, w, _ in handler.log if w != 'stored'))}"
    )
