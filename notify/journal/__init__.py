"""The incident journal: an SQLite record of everything notify does for one incident.

One file per incident (default ``./incident.db``), for the incident file (GDPR art.
33(5) register, CNIL, insurer, police): who was to be informed, what was sent to
whom and when, with which result, and what people decided by hand.

Files and durability
--------------------
The journal, its ``-wal`` and ``-shm`` files and the ``.lock`` file are created
owner-only (0600; a new parent folder 0700; existing files of ours are tightened
to 0600). SQLite runs in WAL mode with ``synchronous=NORMAL``: every committed
transaction survives a crash of the process (SIGKILL included), because the WAL is
in the operating system's cache; only a power cut or kernel crash may lose the last
transactions (never corrupt the file). ``busy_timeout`` is 10 s. Every failure to
open, read or write raises :class:`~notify.errors.JournalError` naming the file and
what to do; never a raw ``sqlite3`` error. Schema changes are named migrations
(:mod:`notify.journal.schema`); a journal written by a newer notify is refused.

Reading only
------------
``Journal.open(path, read_only=True)`` (``notify report --verify``, ``--message``,
``notify status``, and ``notify report`` when the journal or its folder is not
writable) opens an existing journal through SQLite's ``mode=ro`` and changes
nothing: no migration, no permission change, and every write raises
:class:`~notify.errors.JournalError`. In a read-only folder (an archived copy) where
the ``-shm`` file cannot be created it is opened ``immutable=1``, unless a ``-wal``
file with content is beside it: that is refused (copy the journal with its ``-wal``
file to a writable folder, or checkpoint it before archiving). A journal lacking a
migration readers need is refused too (:func:`notify.journal.schema.check_readable`).

Tables
------
``incident_versions`` (the incident settings as JSON, one row per change),
``campaigns`` (one per template name) and ``revisions`` (languages, settings
snapshot without secrets, template sources and variables: enough to re-render any
message byte for byte), ``recipients`` (the current state of each recipient of each
campaign: a *projection* of the events, UNIQUE per campaign and identity key),
``events`` (append-only, hash-chained: see :mod:`notify.journal.chain`).

States (:data:`~notify.journal.model.STATES`)
---------------------------------------------
``pending`` → ``sending`` → ``sent`` | ``deferred`` | ``failed`` | ``uncertain`` |
back to ``pending`` (the run paused on a sending limit or stopped before handing
the message over). A ``sending`` left by a dead process becomes ``uncertain`` on
:meth:`Journal.recover`; ``deferred`` (retry time come) and ``uncertain`` are sent
again; an uncertain one with the same Message-ID. A permanent bounce turns ``sent``
into ``bounced``. By hand (:meth:`Journal.mark`, ``notify mark``): ``skipped`` (a
decision not to send), ``notified-other`` (informed by phone, letter, in person),
and ``pending``, ``sent``, ``failed``, ``bounced``. ``attempts`` counts the
transactions begun that handed the message over or got an answer: one that ends
back in ``pending`` (paused before the server took the message) is given back.

How the sender uses it
----------------------
::

    with Journal.open(path) as journal, journal.sending_lock():
        journal.record_incident(settings.incident)
        journal.recover()                                # sending -> uncertain
        campaign = journal.open_campaign(template_name, languages=[...],
                                         settings=snapshot, templates={name: source},
                                         variables=campaign_variables)
        journal.add_recipients(campaign.id, contact_list)  # new identities only
        after = None
        while page := journal.to_send(campaign.id, limit=50, after=after):
            after = page[-1].rank
            # render each; an uncertain record keeps record.message_id / date_header
            begun = journal.begin_attempts([AttemptStart(r.id, message_id, date, sha256)])
            # ... send only the ids in ``begun`` ...
            journal.end_attempts([AttemptEnd(r.id, "sent", 250, "2.0.0 Ok", queue_id)])
        # a pass is over: start another (after=None) for deferred ones now due

``begin_attempts`` and ``end_attempts`` take batches, one commit each, and need
the sending lock: a second ``notify send`` on the same journal gets a
``JournalError`` naming the holder's pid. Quota: :meth:`Journal.sent_in_window`
and :meth:`Journal.quota_usage` count messages accepted or uncertain (attempt
ends and recoveries) across every campaign and run of this journal.

People this account cannot write to (no address, or a secure health-messaging
address only) are kept in the ``unreachable`` table (:meth:`Journal.record_unreachable`)
with a stable identifier ``U<id>``; what was done about each (``to-reach`` →
``notified-other`` | ``skipped`` | back to ``to-reach``) is recorded only as chained
``unreachable-marked`` events (:meth:`Journal.mark_unreachable`) and projected when
read; :meth:`Journal.verify` checks those rows and events too (see
:mod:`notify.journal.unreachable`).

Reports read :meth:`Journal.campaigns`, :meth:`Journal.counts`,
:meth:`Journal.iter_recipients`, :meth:`Journal.events`, :meth:`Journal.revision`
(to re-render a message), :meth:`Journal.verify` and :meth:`Journal.digest`.
"""

from __future__ import annotations

from notify.journal.codec import recipient_from_json, recipient_to_json
from notify.journal.core import DAY, DEFAULT_PATH, Journal
from notify.journal.model import (
    MARK_STATES,
    OUTCOMES,
    SENDABLE,
    STATES,
    AttemptEnd,
    AttemptStart,
    Campaign,
    ChainBreak,
    Event,
    Outcome,
    QuotaUsage,
    RecipientRecord,
    Revision,
    State,
)
from notify.journal.unreachable import (
    UNREACHABLE_STATES,
    UnreachableRecord,
    UnreachableState,
    parse_label,
)

__all__ = [
    "DAY",
    "DEFAULT_PATH",
    "MARK_STATES",
    "OUTCOMES",
    "SENDABLE",
    "STATES",
    "UNREACHABLE_STATES",
    "AttemptEnd",
    "AttemptStart",
    "Campaign",
    "ChainBreak",
    "Event",
    "Journal",
    "Outcome",
    "QuotaUsage",
    "RecipientRecord",
    "Revision",
    "State",
    "UnreachableRecord",
    "UnreachableState",
    "parse_label",
    "recipient_from_json",
    "recipient_to_json",
]
