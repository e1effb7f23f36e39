"""The :class:`Journal`: one SQLite file per incident (see the package docstring)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from notify.addressbook.addresses import InvalidAddress, clean
from notify.addressbook.model import Entry, Recipient
from notify.errors import JournalError
from notify.journal import (
    attempts,
    campaigns,
    chain,
    db,
    inbound,
    queries,
    recipients,
    schema,
    unreachable,
)
from notify.journal.checkpoint import checkpointing
from notify.journal.codec import format_ts
from notify.journal.lock import exclusive_lock
from notify.journal.model import (
    AttemptEnd,
    AttemptStart,
    Campaign,
    ChainBreak,
    Event,
    QuotaUsage,
    RecipientRecord,
    Revision,
    State,
)
from notify.journal.unreachable import UnreachableRecord
from notify.settings import IncidentSettings

#: Where the journal lives unless ``--journal`` says otherwise.
DEFAULT_PATH = Path("incident.db")
#: The rolling window of a per-day sending quota.
DAY = timedelta(hours=24)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """The record of one incident. Open with :meth:`Journal.open`; close when done.

    Methods may be called from any thread, one at a time (an internal lock
    serialises them), so ``asyncio.to_thread`` is fine.
    """

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        clock: Callable[[], datetime],
        *,
        read_only: bool = False,
    ):
        self._path = path
        self._conn = conn
        self._clock = clock
        self._read_only = read_only
        self._mutex = threading.RLock()
        self._locked = False

    @classmethod
    def open(
        cls,
        path: Path | str = DEFAULT_PATH,
        *,
        create: bool = True,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
        """Open (or, when ``create``, create) the journal at ``path`` and migrate it.

        ``read_only``: open an existing journal for reading only, even on read-only
        media (``create`` is ignored; see the package docstring); every write raises.
        ``clock`` returns the current aware datetime (tests pass a fake one).
        Raises :class:`JournalError` naming the file and what to do.
        """
        where = Path(path)
        if read_only:
            conn = db.connect_read_only(where, setup=lambda c: schema.check_readable(c, where))
        else:
            conn = db.connect(where, create=create, setup=lambda c: schema.migrate(c, where))
        return cls(where, conn, clock or _utc_now, read_only=read_only)

    @staticmethod
    def can_write(path: Path | str) -> bool:
        """Whether the journal at ``path`` and its folder may be written (nothing is tried)."""
        return db.writable(Path(path))

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """True when opened with ``read_only``: every write raises :class:`JournalError`."""
        return self._read_only

    def close(self) -> None:
        """Close the database connection (a checkpoint folds the WAL into the file)."""
        with self._mutex, db.translate(self._path):
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, db.translate(self._path):
            yield self._conn

    def _refuse_if_read_only(self, what: str) -> None:
        if self._read_only:
            raise JournalError(
                f"journal {self._path} was opened read-only: {what} cannot be recorded "
                "(a bug in notify)",
                hint="Open it without read_only to record anything.",
            )

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, str]]:
        self._refuse_if_read_only("this change")
        with self._mutex, db.translate(self._path), db.write_transaction(self._conn) as conn:
            yield conn, format_ts(self._clock())

    def _require_lock(self, what: str) -> None:
        if not self._locked:
            raise JournalError(
                f"{what} needs the sending lock (a bug in notify)",
                hint="Call it inside 'with journal.sending_lock():'.",
            )

    # -- the sending lock --------------------------------------------------------

    @contextmanager
    def sending_lock(self) -> Iterator[None]:
        """Hold the journal's exclusive sending lock for a whole sending run.

        Raises :class:`JournalError` when another process holds it (the message gives
        its pid). The lock goes when the process dies, SIGKILL included.
        """
        if self._locked:
            raise JournalError("this run already holds the sending lock (a bug in notify)")
        self._refuse_if_read_only("a sending run")
        with exclusive_lock(self._path):
            self._locked = True
            try:
                with checkpointing(self._conn, self._path, self._mutex):
                    yield
            finally:
                self._locked = False

    # -- incident and campaigns --------------------------------------------------

    def record_incident(self, incident: IncidentSettings) -> bool:
        """Store the incident when it changed since last recorded; True when stored."""
        with self._write() as (conn, now):
            return campaigns.record_incident(conn, incident, now)

    def incident(self) -> IncidentSettings | None:
        """The incident as last recorded, or None."""
        with self._read() as conn:
            return campaigns.load_incident(conn)

    def open_campaign(
        self,
        template: str,
        *,
        languages: Sequence[str],
        settings: Mapping[str, Any],
        templates: Mapping[str, str],
        variables: Mapping[str, Any],
    ) -> Campaign:
        """Get or create the campaign of ``template``; record what it renders with.

        ``settings`` is a snapshot of the settings (keys named like a password, token
        or secret are removed here too); ``templates`` maps each template file name to
        its source text; ``variables`` are the campaign-wide template variables.
        When any of these changed since the last run, a new revision is recorded.
        """
        with self._write() as (conn, now):
            campaign_id = campaigns.open_campaign(
                conn,
                template,
                languages=languages,
                settings=settings,
                templates=templates,
                variables=variables,
                now=now,
            )
            return campaigns.load_campaign(conn, campaign_id)

    def campaign(self, campaign_id: int) -> Campaign:
        """The campaign ``campaign_id`` with its current revision."""
        with self._read() as conn:
            return campaigns.load_campaign(conn, campaign_id)

    def find_campaign(self, template: str) -> Campaign | None:
        """The campaign of ``template``, or None."""
        with self._read() as conn:
            found = campaigns.find_campaign_id(conn, template)
            return None if found is None else campaigns.load_campaign(conn, found)

    def campaigns(self) -> list[Campaign]:
        """Every campaign, oldest first."""
        with self._read() as conn:
            return [campaigns.load_campaign(conn, c) for c in campaigns.campaign_ids(conn)]

    def revision(self, revision_id: int) -> Revision:
        """A campaign revision (templates, variables, settings) by id, for re-rendering."""
        with self._read() as conn:
            return campaigns.load_revision(conn, revision_id)

    # -- recipients --------------------------------------------------------------

    def add_recipients(self, campaign_id: int, people: Iterable[Recipient]) -> int:
        """Add the new identities of ``people`` as ``pending``; return how many were added.

        Identities already in the campaign are left untouched, so a rerun only
        picks up contacts added to the sources since. One transaction.

        ``people`` also become the campaign's *roster*: the recipients of its last
        run given address books, new or not (their row ids, in the journal: nothing
        per person in Python), for ``roster=True`` in :meth:`to_send` and :meth:`due`.
        """
        with self._write() as (conn, now):
            return recipients.add_recipients(conn, campaign_id, people, now)

    def to_send(
        self, campaign_id: int, *, limit: int = 100, after: int | None = None, roster: bool = False
    ) -> list[RecipientRecord]:
        """The next recipients to send, in exposure order (smallest ``rank`` first).

        Pending, uncertain, and deferred whose retry time has come, with a rank
        above ``after`` (pass the last rank of the previous page; ``None`` starts a
        new pass). An empty list ends the pass; start a new one to pick up deferred
        recipients that came due meanwhile. ``roster``: only the recipients of the
        campaign's last run given address books (see :meth:`add_recipients`).
        """
        with self._read() as conn:
            now = format_ts(self._clock())
            return queries.to_send(
                conn, campaign_id, limit=limit, after=after, now=now, roster=roster
            )

    def due(self, campaign_id: int, *, roster: bool = False) -> int:
        """How many recipients are due (pending, uncertain, deferred at any retry time);
        ``roster``: only the campaign's roster (see :meth:`to_send`). An index count."""
        with self._read() as conn:
            return queries.due(conn, campaign_id, roster=roster)

    def next_retry_at(self, campaign_id: int) -> datetime | None:
        """When the campaign's first deferred recipient may be tried again, or None."""
        with self._read() as conn:
            return queries.next_retry_at(conn, campaign_id)

    def counts(self, campaign_id: int) -> dict[State, int]:
        """The number of recipients in each state (every state is a key)."""
        with self._read() as conn:
            return queries.counts(conn, campaign_id)

    def recipient(self, recipient_id: int) -> RecipientRecord:
        """The recipient ``recipient_id``; :class:`JournalError` when there is none."""
        with self._read() as conn:
            found = queries.by_id(conn, recipient_id)
        if found is None:
            raise JournalError(f"no recipient #{recipient_id} in journal {self._path}")
        return found

    def find_recipient(
        self, address: str, *, campaign_id: int | None = None
    ) -> list[RecipientRecord]:
        """The records of ``address`` (by identity: case and wrappers do not matter)."""
        try:
            key = clean(address).key
        except InvalidAddress:
            key = address.strip().casefold()
        with self._read() as conn:
            return queries.by_key(conn, key, campaign_id)

    def find_by_message_id(self, message_id: str) -> list[RecipientRecord]:
        """The recipients whose last message carried ``message_id`` (for bounces)."""
        with self._read() as conn:
            return queries.by_message_id(conn, message_id)

    def iter_recipients(
        self, campaign_id: int, *, states: Iterable[State] | None = None
    ) -> Iterator[RecipientRecord]:
        """Every recipient of the campaign in exposure order, read page by page."""
        wanted = None if states is None else set(states)
        after = -1
        while True:
            with self._read() as conn:
                page = queries.page_of_recipients(conn, campaign_id, after)
            if not page:
                return
            yield from (r for r in page if wanted is None or r.state in wanted)
            after = page[-1].rank

    # -- state changes -----------------------------------------------------------

    def begin_attempts(self, starts: Sequence[AttemptStart]) -> list[int]:
        """Record that these messages are about to be handed to the server (one commit).

        Call before the SMTP transaction, holding :meth:`sending_lock`. Returns the
        recipient ids actually begun: a recipient marked by hand since it was
        queued is left out and must not be sent.
        """
        self._require_lock("begin_attempts")
        if not starts:
            return []
        with self._write() as (conn, now):
            return attempts.begin(conn, starts, now)

    def end_attempts(self, ends: Sequence[AttemptEnd]) -> None:
        """Record how these SMTP transactions ended (one commit).

        Every end for a recipient in ``sending`` is recorded; then, if some were not
        in ``sending`` (a bug in the caller), :class:`JournalError` names them.
        """
        self._require_lock("end_attempts")
        if not ends:
            return
        with self._write() as (conn, now):
            refused = attempts.end(conn, ends, now)
        if refused:
            raise JournalError(
                f"recipients {', '.join(f'#{r}' for r in refused)} were not being sent: "
                "their outcome was not recorded (a bug in notify)"
            )

    def recover(self) -> int:
        """Turn every ``sending`` left by a dead process into ``uncertain``.

        Call when a sending run starts, holding :meth:`sending_lock` (so no live
        process is sending). Returns how many were recovered.
        """
        self._require_lock("recover")
        with self._write() as (conn, now):
            return attempts.recover(conn, now)

    def mark(
        self,
        address: str,
        state: str,
        note: str,
        *,
        by: str = "",
        campaign_id: int | None = None,
    ) -> list[RecipientRecord]:
        """Record a person's decision about ``address`` (in every campaign, or one).

        ``state`` is one of :data:`~notify.journal.model.MARK_STATES`, e.g.
        ``notified-other`` after a phone call or a letter. Returns the updated records.
        """
        if not note.strip():
            raise JournalError(
                "a manual mark needs a note saying what was done and when",
                hint="Pass --note, for example --note 'phoned on 27/11, warned in person'.",
            )
        try:
            key = clean(address).key
        except InvalidAddress as exc:
            raise JournalError(f"{address!r} is not an e-mail address: {exc.reason}") from None
        with self._write() as (conn, now):
            found = queries.by_key(conn, key, campaign_id)
            if not found:
                raise JournalError(
                    f"{address} is not a recipient of any campaign in journal {self._path}",
                    hint="Check the address, or run 'notify report' to list the recipients.",
                )
            if any(r.state == "sending" for r in found):
                raise JournalError(
                    f"{address} is being sent right now",
                    hint="Wait for 'notify send' to finish (or stop it), then mark again.",
                )
            attempts.mark(conn, [r.id for r in found], state, note=note, by=by, now=now)
            return queries.by_key(conn, key, campaign_id)

    def record_bounce(
        self,
        recipient_id: int,
        *,
        permanent: bool,
        status: str = "",
        diagnostic: str = "",
        source: str = "",
    ) -> State:
        """Record a bounce (``permanent``: the recipient becomes ``bounced``) or a
        delay notice / auto-reply (an event only). Returns the recipient's state."""
        details = {"status": status, "diagnostic": diagnostic[:2000], "source": source}
        with self._write() as (conn, now):
            return attempts.bounce(
                conn, recipient_id, permanent=permanent, details=details, now=now
            )

    # -- quota -------------------------------------------------------------------

    def sent_in_window(self, since: datetime) -> int:
        """Messages accepted or uncertain since ``since``, across all campaigns."""
        with self._read() as conn:
            return queries.sent_in_window(conn, since)

    def quota_usage(self, window: timedelta = DAY, *, now: datetime | None = None) -> QuotaUsage:
        """Messages counted in the rolling ``window`` ending ``now`` (default: the clock),
        and when the oldest of them leaves it."""
        with self._read() as conn:
            return queries.quota_usage(conn, now or self._clock(), window)

    # -- the event log -----------------------------------------------------------

    def events(self, recipient_id: int | None = None) -> Iterator[Event]:
        """The event log in order (all of it, or one recipient's), read page by page."""
        after = 0
        while True:
            with self._read() as conn:
                page = queries.page_of_events(conn, recipient_id, after)
            if not page:
                return
            yield from page
            after = page[-1].seq

    def verify(self) -> ChainBreak | None:
        """Recompute the hash chain: the first altered, inserted or deleted row, or None.

        Also checks the people to reach by other means against the events that
        recorded them and their outcomes (:func:`notify.journal.unreachable.verify`).
        """
        with self._read() as conn, db.read_transaction(conn):
            return chain.verify(conn) or unreachable.verify(conn)

    def digest(self) -> str:
        """The hash of the last event: the integrity digest a report prints."""
        with self._read() as conn:
            return chain.digest(conn)

    # -- people reached by other means (report) ------------------------------------
    # Added for the incident report: see notify/journal/unreachable.py.

    def record_unreachable(self, campaign_id: int, people: Iterable[Entry | Recipient]) -> int:
        """Keep the people who get no message: contacts without address (``Entry``)
        and secure-network recipients (``Recipient``). Idempotent across runs (stable
        keys); returns how many were new. One transaction, one chained event."""
        with self._write() as (conn, now):
            return unreachable.record(conn, campaign_id, people, now)

    def iter_unreachable(self, campaign_id: int) -> Iterator[UnreachableRecord]:
        """The campaign's unreachable people, in the order recorded, page by page."""
        after = 0
        while True:
            with self._read() as conn:
                found = unreachable.page(conn, campaign_id, after)
            if not found:
                return
            yield from found
            after = found[-1].id

    def find_unreachable(
        self, address: str, *, campaign_id: int | None = None
    ) -> list[UnreachableRecord]:
        """The unreachable records of ``address`` (secure-network people), in one
        campaign or every one, with their outcome."""
        try:
            key = clean(address).key
        except InvalidAddress:
            key = address.strip().casefold()
        with self._read() as conn:
            return unreachable.by_key(conn, key, campaign_id)

    def unreachable_person(self, person_id: int) -> UnreachableRecord | None:
        """The unreachable person ``U<person_id>`` with their outcome, or None."""
        with self._read() as conn:
            return unreachable.by_id(conn, person_id)

    def mark_unreachable(
        self, person_ids: Sequence[int], state: str, note: str, *, by: str = ""
    ) -> list[UnreachableRecord]:
        """Record what was done about these people: ``notified-other`` (phone, letter,
        in person, secure messaging), ``skipped`` (a decision not to inform, the note
        says why) or back to ``to-reach``. A note is required. One transaction, one
        chained event per person; returns the people as they now are."""
        with self._write() as (conn, now):
            unreachable.mark(conn, person_ids, state, note=note, by=by, now=now)
            found = [unreachable.by_id(conn, p) for p in dict.fromkeys(person_ids)]
            return [p for p in found if p is not None]

    # -- messages read back: bounces, auto-replies (notify bounces) ----------------
    # Added for notify.bounces.intake: see notify/journal/inbound.py.

    def find_inbound(self, fingerprint: str) -> dict[str, Any] | None:
        """What was recorded when the message with this SHA-256 was read, or None."""
        with self._read() as conn:
            return inbound.find(conn, fingerprint)

    def record_inbound(
        self,
        fingerprint: str,
        *,
        source: str,
        kind: str,
        data: Mapping[str, Any],
        effects: Sequence[inbound.InboundEffect] = (),
    ) -> inbound.Recorded:
        """Record one message read back and its effects on recipients (one commit).

        Returns ``recorded``, ``already-read`` (nothing changed) or ``busy`` (a
        recipient is being sent right now; nothing recorded: read it again later).
        """
        with self._write() as (conn, now):
            return inbound.record(
                conn, fingerprint, source=source, kind=kind, data=data, effects=effects, now=now
            )
