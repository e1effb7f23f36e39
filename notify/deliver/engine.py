"""The delivery engine: parallel connections, rate, cap, retries, stop and Ctrl-C.

Each of ``policy.connections`` workers takes the next message (a retry that is due
first, else a new one), makes sure its connection is open, waits for the rate limit,
takes one unit of the cap, and runs one transaction (:func:`send_one`) between the
recorder's ``starting`` and ``finished`` calls; on a PIPELINING server, batches of up
to ``policy.pipeline_batch`` messages ready now, one after the other on the same
conversation for as long as messages are ready (:class:`notify.deliver.pipeline.Stream`).
A message waiting for a retry sits in a timed queue (:mod:`notify.deliver.queue`):
it never holds a connection nor blocks the other recipients.

Stopping (cap spent, account failure, sending limit, Ctrl-C) is always the same: no
new transaction starts, the ones in flight finish, idle workers are cancelled, every
connection says QUIT. When the delivering task itself is cancelled, transactions in
flight get ``policy.cancel_grace`` seconds to finish; after that they are cut and
recorded as ``uncertain`` (content sent) or ``paused`` (not sent), never as failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from aiosmtplib import SMTP, SMTPException
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from notify.deliver.account import Account, resolve_password
from notify.deliver.classify import Decision, Stage, is_unreachable, parse_queue_id
from notify.deliver.model import (
    Attempt,
    DeliverySummary,
    Outcome,
    Outgoing,
    Policy,
    Recorder,
)
from notify.deliver.pipeline import NOT_SENT, Slot, Stream, send_batch, uses_pipelining
from notify.deliver.queue import Job, JobQueue, TokenBucket
from notify.deliver.session import (
    SessionFailed,
    TransactionState,
    close_session,
    open_session,
    send_one,
)
from notify.errors import AccountError, QuotaPaused

Progress = Callable[[Attempt], None]


@dataclass(frozen=True)
class _Batch:
    """Jobs begun together in the recorder, their slots, and when they started."""

    jobs: list[Job]
    slots: list[Slot]
    started: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class _Run:
    """The state of one call to :func:`deliver`."""

    def __init__(
        self,
        source: AsyncIterator[Outgoing] | Iterable[Outgoing],
        account: Account,
        policy: Policy,
        recorder: Recorder,
        progress: Progress | None,
    ) -> None:
        self.account, self.policy, self.recorder, self.progress = (
            account,
            policy,
            recorder,
            progress,
        )
        self.queue = JobQueue(source)
        self.limiter = TokenBucket(policy.per_minute)
        self.tls = account.tls_context() if account.security != "none" else None
        self.summary = DeliverySummary()
        self.cap_left = policy.cap
        self.fatal: BaseException | None = None
        self.stopping = False
        self.connected_once = False
        self.retrying = AsyncRetrying(
            stop=policy.stop_strategy(),
            wait=policy.wait_strategy(),
            retry=retry_if_exception_type(SessionFailed),
            reraise=True,
        )
        self._password: SecretStr | None = None
        self._password_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_transaction: set[asyncio.Task[None] | None] = set()

    async def run(self) -> DeliverySummary:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.policy.connections)]
        try:
            await asyncio.wait(self._tasks)
        except asyncio.CancelledError:
            self.summary.interrupted = True
            self.stop(None)
            await self._drain()
            raise
        self.summary.retries_left = self.queue.pending_retries()
        if self.fatal is not None:
            raise self.fatal
        return self.summary

    async def _drain(self) -> None:
        try:
            await asyncio.wait(self._tasks, timeout=self.policy.cancel_grace)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self, reason: BaseException | None) -> None:
        """No new transaction; keep the first reason to raise it at the end."""
        if reason is not None and self.fatal is None:
            self.fatal = reason
        if self.stopping:
            return
        self.stopping = True
        self.queue.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current and task not in self._in_transaction:
                task.cancel()

    async def _worker(self) -> None:
        holder: list[SMTP] = []
        try:
            await self._work(holder)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
        except Exception as exc:  # journal errors, account errors, bugs: stop the run
            self.stop(exc)
        finally:
            for smtp in holder:
                await close_session(smtp)

    async def _work(self, holder: list[SMTP]) -> None:
        while not self.stopping:
            job = await self.queue.next()
            if job is None:
                return
            try:
                smtp = await self._ready(holder[0] if holder else None)
                holder[:] = [smtp]
                await self.limiter.acquire()
            except BaseException:
                self.queue.settle(job, None)
                raise
            if self.stopping or not self._take_cap():
                self.queue.settle(job, None)
                return
            jobs = [job, *await self._more_jobs(smtp)]
            if uses_pipelining(smtp, self.policy) and not self.limiter.interval:
                await self._stream(smtp, jobs)
            else:
                await self._transaction(smtp, jobs)

    def _take_cap(self) -> bool:
        """Count one more message against the run's cap; False once it is spent.

        A spent cap only closes the queue: the other workers finish the messages
        they already hold (counted against the cap), idle ones end. Stopping the
        run here would cancel a worker between taking its batch and sending it.
        """
        if self.cap_left is None:
            return True
        if self.cap_left <= 0:
            self.summary.cap_reached = True
            self.queue.close()
            return False
        self.cap_left -= 1
        return True

    async def _more_jobs(self, smtp: SMTP) -> list[Job]:
        """More jobs for a pipelined batch on ``smtp``: ready now, within the cap."""
        more: list[Job] = []
        if self.limiter.interval or not uses_pipelining(smtp, self.policy):
            return more
        while len(more) + 1 < self.policy.pipeline_batch and not self.stopping:
            if self.cap_left is not None and self.cap_left <= 0:
                break
            job = await self.queue.next_ready()
            if job is None:
                break
            if not self._take_cap():  # another worker took the last of the cap meanwhile
                self.queue.settle(job, None)
                break
            more.append(job)
        return more

    async def _next_jobs(self, smtp: SMTP) -> list[Job]:
        """The next batch for a stream: jobs ready now, within the cap; never waits
        for a retry to come due (the stream then ends and the worker waits)."""
        if self.stopping or (self.cap_left is not None and self.cap_left <= 0):
            return []
        job = await self.queue.next_ready()
        if job is None:
            return []
        if self.stopping or not self._take_cap():
            self.queue.settle(job, None)
            return []
        return [job, *await self._more_jobs(smtp)]

    async def _password_value(self) -> str | None:
        async with self._password_lock:
            if self._password is None:
                self._password = await resolve_password(self.account)
        return None if self._password is None else self._password.get_secret_value()

    async def _ready(self, smtp: SMTP | None) -> SMTP:
        """An open, authenticated connection: the current one or a new one."""
        if smtp is not None and smtp.is_connected:
            return smtp
        password = await self._password_value()
        try:
            async for attempt in self.retrying.copy():
                with attempt:
                    return await self._open(password)
        except SessionFailed as exc:
            raise self._account_error(exc.decision, exc.stage, repeated=True) from exc
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    async def _open(self, password: str | None) -> SMTP:
        try:
            smtp = await open_session(self.account, self.tls, password)
        except SessionFailed as exc:
            decision = exc.decision
            if decision.kind == "quota":
                raise self._quota(decision) from exc
            first = not self.connected_once
            cause = exc.__cause__
            unreachable = cause is not None and is_unreachable(cause)
            if decision.kind == "account" or (first and unreachable):
                raise self._account_error(decision, exc.stage) from exc
            raise
        self.connected_once = True
        return smtp

    async def _transaction(self, smtp: SMTP, jobs: list[Job]) -> None:
        task = asyncio.current_task()
        self._in_transaction.add(task)
        try:
            batch = self._begin(jobs)
            slots, started = batch.slots, batch.started
            try:
                await self._send(smtp, slots)
            except asyncio.CancelledError:
                smtp.close()
                self._conclude(jobs, slots, started, interrupted=True)
                raise
        finally:
            self._in_transaction.discard(task)
        self._conclude(jobs, slots, started)

    async def _stream(self, smtp: SMTP, jobs: list[Job]) -> None:
        """Pipelined batches on ``smtp`` for as long as messages are ready now.

        Each batch is begun in the recorder before any of its commands is written
        and concluded as soon as its last reply is read, while the next batch is
        already on the wire (see :class:`notify.deliver.pipeline.Stream`): one round
        trip per message, none between batches.
        """
        try:
            stream = Stream(smtp, stopping=lambda: self.stopping)
        except (SMTPException, OSError):  # the connection went meanwhile
            await self._transaction(smtp, jobs)  # decides them "not sent", to retry
            return
        task = asyncio.current_task()
        self._in_transaction.add(task)
        open_batches: list[_Batch] = []
        try:
            while jobs:
                try:
                    batch = self._begin(jobs)
                except BaseException:
                    await stream.finish()  # decide and record what is in flight first
                    raise
                open_batches.append(batch)
                await stream.send(batch.slots, partial(self._streamed, batch, open_batches))
                if not stream.usable:
                    break
                jobs = await self._next_jobs(smtp)
            await stream.finish()
        except asyncio.CancelledError:
            smtp.close()
            for batch in list(open_batches):
                self._conclude(batch.jobs, batch.slots, batch.started, interrupted=True)
            raise
        finally:
            self._in_transaction.discard(task)

    def _begin(self, jobs: list[Job]) -> _Batch:
        """Tell the recorder a batch is starting; give the jobs back if it refuses."""
        batch = _Batch(jobs, [Slot(job.message) for job in jobs], _now())
        try:
            self.recorder.starting([job.message for job in jobs])
        except BaseException:
            for job in jobs:
                self.queue.settle(job, None)
            raise
        return batch

    def _streamed(self, batch: _Batch, open_batches: list[_Batch]) -> None:
        """A streamed batch is decided: record it. Called from within the exchange,
        so a recorder failure stops the run instead of unwinding the connection."""
        open_batches.remove(batch)
        try:
            self._conclude(batch.jobs, batch.slots, batch.started)
        except Exception as exc:
            self.stop(exc)

    async def _send(self, smtp: SMTP, slots: list[Slot]) -> None:
        if uses_pipelining(smtp, self.policy):
            await send_batch(smtp, slots, stopping=lambda: self.stopping)
        else:
            [slot] = slots
            slot.decision = await send_one(smtp, slot.message, slot.state)

    def _conclude(
        self, jobs: list[Job], slots: list[Slot], started: datetime, *, interrupted: bool = False
    ) -> None:
        results = [
            self._attempt(j, s, started, interrupted) for j, s in zip(jobs, slots, strict=True)
        ]
        self._report(jobs, results)
        for slot in slots:
            decision = slot.decision
            if not slot.state.data_sent and self.cap_left is not None:
                self.cap_left += 1
            if decision is not None and decision.kind == "account":
                self.stop(self._account_error(decision, slot.state.stage))
            elif decision is not None and decision.kind == "quota":
                self.stop(self._quota(decision))

    def _attempt(
        self, job: Job, slot: Slot, started: datetime, interrupted: bool
    ) -> tuple[Attempt, float | None]:
        """The attempt to record for one message, and when to retry it (loop time)."""
        decision = slot.decision
        if decision is None:
            return self._undecided(job, slot.state, started, interrupted), None
        if decision.text == NOT_SENT and not slot.state.data_sent:  # never reached it
            ref, number = job.message.ref, job.number
            attempt = Attempt(ref, number, "paused", None, NOT_SENT, None, started, _now(), False)
            return attempt, asyncio.get_running_loop().time()
        outcome, final, retry = self._outcome(job, decision)
        queue_id = parse_queue_id(decision.text) if outcome == "sent" else None
        ref, number, code, text = job.message.ref, job.number, decision.code, decision.text
        attempt = Attempt(ref, number, outcome, code, text, queue_id, started, _now(), final)
        return attempt, (self._retry_at(job) if retry else None)

    def _report(self, jobs: list[Job], results: list[tuple[Attempt, float | None]]) -> None:
        try:
            self.recorder.finished([attempt for attempt, _ in results])
        finally:
            for job, (attempt, retry_at) in zip(jobs, results, strict=True):
                self.queue.settle(job, retry_at, same_attempt=attempt.outcome == "paused")
                self._count(attempt)
        if self.progress is not None:
            for attempt, _ in results:
                self.progress(attempt)

    def _outcome(self, job: Job, decision: Decision) -> tuple[Outcome, bool, bool]:
        """(outcome, final, retry) for a decision about attempt ``job.number``."""
        kind = decision.kind
        if kind in ("sent", "permanent"):
            return ("sent" if kind == "sent" else "permanent"), True, False
        if kind in ("quota", "account"):
            return "paused", False, False
        exhausted = self._exhausted(job.number)
        if kind == "uncertain":
            if not self.policy.retry_uncertain:
                return "uncertain", True, False
            return "uncertain", exhausted, not exhausted
        return "transient", exhausted, not exhausted

    def _retry_state(self, number: int) -> RetryCallState:
        state = RetryCallState(self.retrying, None, (), {})
        state.attempt_number = number
        return state

    def _exhausted(self, number: int) -> bool:
        return bool(self.retrying.stop(self._retry_state(number)))

    def _retry_at(self, job: Job) -> float:
        delay = float(self.retrying.wait(self._retry_state(job.number)))
        return asyncio.get_running_loop().time() + delay

    def _undecided(
        self, job: Job, state: TransactionState, started: datetime, interrupted: bool
    ) -> Attempt:
        """A message cut short (Ctrl-C past the grace) or never handed over (run stopping)."""
        if state.data_sent:
            outcome: Outcome = "uncertain"
            text = "interrupted after the message was sent, before the server replied"
        elif interrupted:
            outcome, text = "paused", "interrupted before the message was handed over"
        else:
            outcome, text = "paused", "the run stopped before the message was handed over"
        final = outcome == "uncertain" and not self.policy.retry_uncertain
        return Attempt(
            job.message.ref, job.number, outcome, None, text, None, started, _now(), final
        )

    def _count(self, attempt: Attempt) -> None:
        s = self.summary
        s.attempts += 1
        if attempt.outcome == "sent":
            s.sent += 1
        elif attempt.outcome == "permanent":
            s.permanent += 1
        elif attempt.outcome == "uncertain" and attempt.final:
            s.uncertain += 1
        elif attempt.outcome == "transient" and attempt.final:
            s.gave_up += 1
        elif attempt.outcome == "paused":
            s.paused += 1

    def _account_error(
        self, decision: Decision, stage: Stage, *, repeated: bool = False
    ) -> AccountError:
        what = {
            "connect": "cannot reach",
            "tls": "TLS failed with",
            "ehlo": "the greeting failed with",
            "auth": "login refused by",
            "mail": "the sender was refused by",
        }.get(stage, "sending stopped by")
        again = f" (after {self.policy.max_attempts} tries)" if repeated else ""
        hint = decision.hint
        if stage == "auth" and self.account.auth_hints[:1] == ("oauth2",):
            hint = "This provider wants OAuth2: set smtp.oauth2_token_command."
        elif stage == "auth" and self.account.auth_hints[:1] == ("app-password",):
            hint = "This provider wants an app password (not your usual password)."
        return AccountError(
            f"{what} {self.account.describe()}{again}: {decision.text}. "
            "No recipient was marked as failed.",
            code=decision.code,
            hint=hint,
        )

    def _quota(self, decision: Decision) -> QuotaPaused:
        resume = _now() + decision.retry_after if decision.retry_after else None
        when = f"after {resume:%Y-%m-%d %H:%M} UTC" if resume else "later"
        return QuotaPaused(
            f"the sending account reached a sending limit: {decision.text}",
            resume_at=resume,
            hint=f"Nothing was marked failed. Run notify send again {when}.",
        )


async def deliver(
    messages: AsyncIterator[Outgoing] | Iterable[Outgoing],
    account: Account,
    policy: Policy,
    recorder: Recorder,
    *,
    progress: Progress | None = None,
) -> DeliverySummary:
    """Send every message through ``account`` under ``policy``, reporting to ``recorder``.

    Returns the summary when every message is settled or the cap is spent
    (``summary.cap_reached``). Raises AccountError when the account cannot send
    (authentication, TLS, unreachable at the first connection), QuotaPaused when the
    account reached a sending limit: in both cases no recipient is marked failed.
    Exceptions raised by the recorder stop the run and are raised here.
    """
    run = _Run(messages, account, policy, recorder, progress)
    return await run.run()
