"""The data the delivery engine takes and gives back, and the recorder protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from tenacity import stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from notify.deliver.providers import Provider
from notify.settings import SendingSettings

Outcome = Literal["sent", "transient", "permanent", "uncertain", "paused"]


@dataclass(frozen=True)
class Outgoing:
    """One ready message for one recipient (``rcpt`` is a single address, always)."""

    ref: int
    mail_from: str
    rcpt: str
    data: bytes = field(repr=False)
    envid: str | None = None
    needs_smtputf8: bool = False


@dataclass(frozen=True)
class Attempt:
    """The result of one SMTP transaction for one message.

    ``outcome``:

    - ``sent``: the server accepted the message (``queue_id`` from its reply, if any).
    - ``transient``: refused for now (4xx, timeout or dropped connection before the
      content was sent); retried later unless ``final``.
    - ``permanent``: refused for good (5xx on RCPT or DATA); ``final`` is always True.
    - ``uncertain``: the content was sent but no reply came; the server may have
      accepted it. Not resent in the same run unless ``Policy.retry_uncertain``.
    - ``paused``: stopped before the server took the message, for a reason that is not
      the recipient's (a sending limit, an account failure, Ctrl-C): the recipient goes
      back to pending and is not a failure. ``final`` is False.
    """

    ref: int
    number: int
    outcome: Outcome
    code: int | None
    text: str
    queue_id: str | None
    started_at: datetime
    ended_at: datetime
    final: bool


class Recorder(Protocol):
    """Where the engine reports, synchronously, before and after every transaction."""

    def starting(self, batch: Sequence[Outgoing]) -> None:
        """Called right before the transaction(s) of ``batch`` (the journal commits
        "sending"). Raising stops the run and nothing of ``batch`` is sent."""

    def finished(self, attempts: Sequence[Attempt]) -> None:
        """Called right after, with one Attempt per message of the batch."""


@dataclass(frozen=True)
class Policy:
    """How fast, how parallel and how persistent one run is.

    ``cap`` is how many messages this run may hand to the server (the per-day quota
    left, computed by the caller); None means no cap. A transaction that ends before
    the message content was sent gives its unit back.

    ``pipelining``: use SMTP PIPELINING (RFC 2920) when the server offers it (see
    :mod:`notify.deliver.pipeline`); False keeps one command per round trip.
    ``pipeline_batch``: on a pipelining server with no ``per_minute`` spacing, up to
    that many messages of one connection go out as one batch, between one
    ``recorder.starting`` and one ``recorder.finished`` (one journal commit each):
    fewer round trips and commits, but a crash mid-batch leaves the whole batch
    ``sending`` (then ``uncertain``), not just one message.
    """

    connections: int = 1
    per_minute: int | None = None
    cap: int | None = None
    max_attempts: int = 5
    retry_min: float = 2.0
    retry_max: float = 300.0
    retry_uncertain: bool = False
    cancel_grace: float = 10.0
    pipelining: bool = True
    pipeline_batch: int = 5

    @classmethod
    def from_settings(
        cls,
        sending: SendingSettings,
        *,
        cap: int | None = None,
        preset: Provider | None = None,
    ) -> Policy:
        """The policy from ``[sending]`` settings and the caller's cap for this run;
        an unset per_minute falls back to the provider preset's."""
        per_minute = sending.per_minute or (preset.per_minute if preset else None)
        return cls(
            connections=sending.connections,
            per_minute=per_minute,
            cap=cap,
            max_attempts=sending.max_attempts,
            retry_min=sending.retry_min_seconds,
            retry_max=sending.retry_max_seconds,
            pipelining=sending.pipelining,
            pipeline_batch=sending.pipeline_batch,
        )

    def wait_strategy(self) -> wait_base:
        """tenacity wait: full jitter, first retry in [retry_min, 2*retry_min], doubling,
        never more than retry_max."""
        low = min(self.retry_min, self.retry_max)
        return wait_random_exponential(multiplier=low * 2, min=low, max=self.retry_max)

    def stop_strategy(self) -> stop_base:
        """tenacity stop: give up after ``max_attempts`` attempts."""
        return stop_after_attempt(self.max_attempts)


@dataclass
class DeliverySummary:
    """Counts for one run (the journal holds the details)."""

    sent: int = 0
    permanent: int = 0
    uncertain: int = 0
    gave_up: int = 0
    paused: int = 0
    attempts: int = 0
    retries_left: int = 0
    cap_reached: bool = False
    interrupted: bool = False
