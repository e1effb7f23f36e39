"""A journal with every kind of outcome, built through the real API, for report tests.

One campaign of the built-in ``colleague-warning`` template; real composed messages
(so that ``notify report --message`` can reproduce them byte for byte):

- alice: sent; eve (a ``<script>`` name) and frank (an ``=HYPERLINK`` name): sent;
- bob: refused (550); carol: sent, then a permanent bounce; dan: uncertain (the run
  died while sending); gina: refused, then marked ``notified-other`` by hand;
- ivy: put back in the queue (the run paused); hank: never sent (pending);
- kept apart: a contact without address, and a secure-network (MSSanté) recipient.

:func:`mark_kept_apart` then records what was done about the two people kept apart:
the one without address phoned (``notified-other``), the secure one ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from notify import sending
from notify.addressbook.model import Entry, Origin, Recipient
from notify.campaign import campaign_token
from notify.compose import Composer, load_template
from notify.compose.mime import format_date
from notify.journal import AttemptEnd, AttemptStart, Journal, RecipientRecord
from notify.settings import IncidentSettings, SenderSettings, Settings

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TEMPLATE = "colleague-warning"
HOSTILE_NAME = "<script>alert('x')</script>"
FORMULA_NAME = '=HYPERLINK("http://evil.example/","click")'
NO_ADDRESS_PHONE = "+33 4 11 22 33 44"
SECURE_PHONE = "+33 4 55 66 77 88"
BOB_PHONE = "+33 4 00 00 00 02"
MARK_NOTE = "phoned on 27/11 at 14:00, warned in person"
PHONED_NOTE = "phoned on 28/11 at 10:00, warned in person"
SKIPPED_NOTE = "retired since 2025: no longer a correspondent"
#: When mark_kept_apart records its marks: 2026-11-28 10:00 in the report's zone.
MARKED_AT = T0 + timedelta(days=1)

PEOPLE = {
    "alice": "Dr Alice Martin",
    "bob": "Dr Bob Durand",
    "carol": "Carol Petit",
    "dan": "Dan Leroy",
    "eve": HOSTILE_NAME,
    "frank": FORMULA_NAME,
    "gina": "Gina Moreau",
    "ivy": "Ivy Roux",
    "hank": "Hank Blanc",
}


class Clock:
    """A settable clock for the journal."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Scenario:
    """The journal built and what was sent, to compare with."""

    path: Path
    settings: Settings
    sent: dict[str, bytes] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


def make_settings() -> Settings:
    """Settings of a hijacked doctor's mailbox (the password comes from the environment)."""
    incident = IncidentSettings(
        kind="mailbox-hijack",
        compromised_address="dr.martin@exemple.fr",
        window_start=datetime.fromisoformat("2026-11-26T08:00:00+01:00"),
        window_end=datetime.fromisoformat("2026-11-27T18:00:00+01:00"),
        discovered_at=datetime.fromisoformat("2026-11-27T08:40:00+01:00"),
        aware_at=datetime.fromisoformat("2026-11-27T09:15:00+01:00"),
        nature="Mailbox taken over through a phishing page; fraudulent invoices sent",
        consequences="Correspondents may pay fraudulent invoices or open malware",
        measures="Password changed, sessions revoked, correspondents warned",
        data_categories="Names and e-mail addresses of correspondents",
        persons_concerned=250,
        records_concerned=1200,
        ars_reference="ARS-2026-0042",
    )
    sender = SenderSettings(
        address="secours.martin@exemple.org",
        name="Dr Claire Martin",
        profession="médecin",
        phone="+33 4 00 00 00 00",
        organization="Cabinet du Dr Martin",
    )
    return Settings(incident=incident, sender=sender)


def _person(key: str) -> Recipient:
    email = f"{key}@exemple.fr"
    phones = [BOB_PHONE] if key == "bob" else []
    postal = ["3 rue des Lilas, 69003 Lyon"] if key == "bob" else []
    return Recipient(email, email, email, name=PEOPLE[key], phones=phones, postal=postal)


def kept_apart() -> list[Entry | Recipient]:
    """A contact without address and a secure-network recipient."""
    entry = Entry(
        origin=Origin("carnet.vcf", 12),
        name="Dr Sans Courriel",
        phones=[NO_ADDRESS_PHONE],
        postal=["1 place Bellecour, 69002 Lyon"],
    )
    secure = Recipient(
        "dr.secure@medecin.mssante.fr",
        "dr.secure@medecin.mssante.fr",
        "dr.secure@medecin.mssante.fr",
        name="Dr Secure Network",
        phones=[SECURE_PHONE],
        sources=[Origin("carnet.vcf", 30)],
        secure_network=True,
    )
    return [entry, secure]


def _begin(
    journal: Journal, composer: Composer, token: str, records: list[RecipientRecord], sc: Scenario
) -> None:
    date = T0.astimezone(timezone(timedelta(hours=1)))
    starts = []
    for record in records:
        recipient = record.recipient
        message_id = composer.message_id_for(recipient, token)
        composed = composer.compose(recipient, message_id=message_id, date=date)
        key = record.email.split("@")[0]
        sc.sent[key], sc.sha256[key] = composed.data, composed.sha256
        starts.append(AttemptStart(record.id, message_id, format_date(date), composed.sha256))
    journal.begin_attempts(starts)


def _ends(ids: dict[str, int]) -> list[AttemptEnd]:
    ok = "2.0.0 Ok: queued"
    return [
        AttemptEnd(ids["alice"], "sent", 250, ok, "Q1"),
        AttemptEnd(ids["bob"], "failed", 550, "5.1.1 <bob@exemple.fr>: user unknown"),
        AttemptEnd(ids["carol"], "sent", 250, ok, "Q3"),
        AttemptEnd(ids["eve"], "sent", 250, ok, "Q5"),
        AttemptEnd(ids["frank"], "sent", 250, ok, "Q6"),
        AttemptEnd(ids["gina"], "failed", 554, "5.7.1 rejected by policy"),
        AttemptEnd(ids["ivy"], "pending", note="the run paused before the server took it"),
    ]


def build_scenario(folder: Path) -> Scenario:
    """Write the journal ``folder/incident.db`` and return what was sent."""
    settings = make_settings()
    sc = Scenario(folder / "incident.db", settings)
    clock = Clock()
    template_set = load_template(TEMPLATE)
    composer = Composer(template_set, settings.incident, settings.sender, default_language="fr")
    token = campaign_token(settings, TEMPLATE)
    with Journal.open(sc.path, clock=clock) as journal, journal.sending_lock():
        campaign = sending.open_campaign(
            journal, settings, template_set, template=TEMPLATE, token=token
        )
        journal.add_recipients(campaign.id, [_person(k) for k in PEOPLE])
        journal.record_unreachable(campaign.id, kept_apart())
        records = [r for r in journal.iter_recipients(campaign.id) if r.name != "Hank Blanc"]
        ids = {r.email.split("@")[0]: r.id for r in records}
        clock.now = T0 + timedelta(minutes=1)
        _begin(journal, composer, token, records, sc)
        clock.now = T0 + timedelta(minutes=2)
        journal.end_attempts(_ends(ids))
        clock.now = T0 + timedelta(hours=2)
        journal.recover()  # dan's attempt never ended: uncertain
        clock.now = T0 + timedelta(hours=3)
        journal.record_bounce(
            ids["carol"], permanent=True, status="5.2.2", diagnostic="mailbox full"
        )
        clock.now = T0 + timedelta(hours=4)
        journal.mark("gina@exemple.fr", "notified-other", MARK_NOTE, by="secretariat")
    return sc


def mark_kept_apart(path: Path) -> dict[str, str]:
    """Record that the contact without address was phoned and the secure one skipped.

    Returns their identifiers: ``{"no-address": "U1", "secure": "U2"}``.
    """
    with Journal.open(path, create=False, clock=lambda: MARKED_AT) as journal:
        campaign = journal.find_campaign(TEMPLATE)
        assert campaign is not None
        no_address, secure = journal.iter_unreachable(campaign.id)
        journal.mark_unreachable([no_address.id], "notified-other", PHONED_NOTE, by="secretariat")
        journal.mark_unreachable([secure.id], "skipped", SKIPPED_NOTE, by="Dr Martin")
    return {"no-address": no_address.label, "secure": secure.label}
