"""SMTP PIPELINING (RFC 2920): a batch of messages in few round trips on one connection.

Without pipelining each message costs four round trips (MAIL, RCPT, DATA, the
content with its final dot). When the server lists PIPELINING in its EHLO reply
and ``Policy.pipelining`` is on, :func:`send_batch` sends the messages of one batch
in *groups*, each group written at once and its replies then read in order::

    group 1:  MAIL 1, RCPT 1, DATA 1                       -> 250, 250, 354
    group 2:  content 1 + ".", MAIL 2, RCPT 2, DATA 2      -> 250 (message 1), 250, 250, 354
    ...
    last:     content n + "."                              -> 250 (message n)

so n messages take n + 1 round trips instead of 4n. The batches are journaled
one at a time (begun before they are written, ended once decided), but the
conversation does not stop between them: a :class:`Stream` keeps the last content
of a batch for the first group of the next one, so a connection that stays busy
pays one round trip per message, plus one when it ends. What RFC 2920 allows, and
how this module keeps to it:

- Section 3.1: RSET, MAIL FROM and RCPT TO "can all appear anywhere in a pipelined
  command group"; EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP "can only appear as
  the last command in a group". So DATA always ends a group, and the content is
  written only once its 354 has been read (RFC 5321 section 4.1.1.4: the content
  follows a 354). EHLO, STARTTLS, AUTH and QUIT are never pipelined here.
- Section 3.1: "The actual transfer of message content is explicitly allowed to be
  the first 'command' in a group", and the RSET/MAIL FROM that start the next
  transaction may follow it in the same group. This is what lets the content of
  message k share a group with MAIL/RCPT/DATA of message k+1.
- Section 3.1: the client "MUST check ALL statuses associated with each command in
  a group", and must not assume DATA is refused because every RCPT was: "If the
  DATA command was properly rejected the client SMTP can just issue RSET, but if
  the DATA command was accepted the client SMTP should send a single dot." A 354
  after a refused MAIL or RCPT is answered with a lone "." (an empty content
  that the server refuses: there is no recipient), never with the message.
- Section 1: the client "use[s] pipelining only when the server declares itself
  capable of handling it": PIPELINING in the reply to the last EHLO (the one after
  STARTTLS). Without it, or with ``Policy.pipelining`` off, the engine keeps
  :func:`notify.deliver.session.send_one`, one command per round trip.

Every reply is matched to its command by position ("Every command MUST generate
exactly one reply", RFC 5321 section 4.2), and every message is decided as in
:func:`notify.deliver.session.send_one`, by :mod:`notify.deliver.classify`: the
first refused command among MAIL, RCPT and DATA decides (a 5xx on RCPT is
permanent and the 503/554 that DATA then gets is not counted; a refused MAIL
uses the MAIL rules), the reply to the final dot decides a message whose content
went out. RSET is sent only when a MAIL was accepted and the transaction then
failed (RFC 5321 section 4.1.4: a transaction is aborted by RSET), never after a
refused MAIL nor after the final dot (which ends the transaction either way). It
travels at the head of the next group, so it costs no round trip, except at the
very end of a stream, where it leaves the connection clean for QUIT.

When the connection fails (421, reset, timeout): the message whose content went
out without its reply is ``uncertain``; the messages whose commands went out are
decided from the replies already read (the 421 to RCPT, say) or are a
``connection`` fault; the messages of the batch not yet written are a
``connection`` fault too ("not sent"), to be retried on a new connection. When a
reply stops the run (a sending limit, the sender refused) or the engine is
stopping, no new transaction is written; the one whose DATA was accepted is
finished (its content sent and its reply read), and the messages never written
keep no decision: the engine records them as ``paused``.

Replies are read by :class:`notify.deliver.replies.ReplyReader`, which stands in
for aiosmtplib's protocol on the transport for the length of a stream and keeps
every reply, in order; the stream hands the transport back when it ends with
nothing left unread (or closes the connection if something is). The
writes never block (asyncio buffers them while the replies keep being read), so
client and server cannot both wait on a full TCP window. Each reply is awaited
at most the account's timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aiosmtplib import SMTP, SMTPException, SMTPResponse, SMTPServerDisconnected
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX

from notify.deliver.classify import Decision, Stage, classify_error, classify_reply
from notify.deliver.model import Outgoing, Policy
from notify.deliver.replies import ReplyReader, install_reader
from notify.deliver.session import (
    TransactionState,
    envelope_options,
    needs_smtputf8,
    quoted,
    smtputf8_refusal,
    wire_content,
)

StepKind = Literal["content", "dot", "rset", "mail", "rcpt", "data"]
#: The replies that let a transaction go on, per command.
_EXPECTED: tuple[tuple[Stage, tuple[int, ...]], ...] = (
    ("mail", (250,)),
    ("rcpt", (250, 251)),
    ("data", (354,)),
)
_STOPS_THE_RUN = frozenset({"account", "quota"})
NOT_SENT = "not sent: the connection ended before this message's turn"


def uses_pipelining(smtp: SMTP, policy: Policy) -> bool:
    """True when the policy allows pipelining and the server offers it (EHLO)."""
    return policy.pipelining and smtp.supports_extension("pipelining")


@dataclass
class Slot:
    """One message of a batch: where its transaction is and, once known, its decision.

    ``decision`` stays None for a message that was never written because the run
    is stopping (the engine records it as ``paused``).
    """

    message: Outgoing
    state: TransactionState = field(default_factory=TransactionState)
    decision: Decision | None = None
    written: bool = False
    replies: list[SMTPResponse] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class _Step:
    """One command (or one message content) of a group, and the slot its reply is for."""

    kind: StepKind
    data: bytes = field(repr=False)
    slot: Slot | None = None


class _OutOfStep(SMTPException):
    """The server answered something that leaves the conversation in doubt."""


def _command(verb: bytes, address: bytes, options: list[str]) -> bytes:
    """One command line, refusing control characters as aiosmtplib does."""
    args = [verb, address, *(option.encode("ascii") for option in options)]
    for arg in args:
        if COMMAND_INJECTION_REGEX.search(arg):
            raise ValueError("Command arg contains a prohibited control character")
    return b" ".join(args) + b"\r\n"


def _envelope(smtp: SMTP, slot: Slot) -> list[_Step] | Decision:
    """MAIL, RCPT and DATA for one message, or the decision when they cannot be
    written (SMTPUTF8 needed but not offered, an address unfit for a command line)."""
    message = slot.message
    refusal = smtputf8_refusal(smtp, message)
    if refusal is not None:
        return refusal
    utf8 = needs_smtputf8(message)
    encoding = "utf-8" if utf8 else "ascii"
    mail_opts, rcpt_opts = envelope_options(smtp, message, utf8)
    try:
        slot.state.stage = "mail"
        sender = quoted(message.mail_from).encode(encoding)
        mail = _command(b"MAIL", b"FROM:" + sender, mail_opts)
        slot.state.stage = "rcpt"
        rcpt = _command(b"RCPT", b"TO:" + quoted(message.rcpt).encode(encoding), rcpt_opts)
    except (ValueError, UnicodeError) as exc:
        return classify_error(exc, slot.state.stage)
    slot.state.stage = "mail"
    return [_Step("mail", mail, slot), _Step("rcpt", rcpt, slot), _Step("data", b"DATA\r\n", slot)]


def _refusal(slot: Slot) -> Decision | None:
    """The decision of the first refused command among the replies read so far."""
    for (stage, accepted), reply in zip(_EXPECTED, slot.replies, strict=False):
        if reply.code in accepted:
            continue
        if reply.code < 400:  # a success code where none belongs: not sent, try again
            text = f"unexpected reply to {stage.upper()}: {reply.code} {reply.message}"
            return Decision("transient", reply.code, text)
        return classify_reply(reply.code, reply.message, stage)
    return None


class _Exchange:
    """The groups of one batch on one connection, and what each reply means."""

    def __init__(self, smtp: SMTP, reader: ReplyReader, stopping: Callable[[], bool]) -> None:
        self.reader = reader
        self.timeout = smtp.timeout
        self.stopping = stopping
        self.owed: _Step | None = None  # content, lone dot or RSET: heads the next group
        self.halted = False  # a reply stopped the run (sending limit, sender refused)
        self.lost = False  # a reply closed the connection (421)
        self.on_decided: Callable[[Slot], None] | None = None

    @property
    def can_go_on(self) -> bool:
        """Whether a new transaction may be written."""
        return not (self.halted or self.lost or self.stopping())

    async def run(self, slots: Sequence[Slot], smtp: SMTP) -> None:
        """Write every slot's transaction, pipelined; what is owed at the end stays owed."""
        for slot in slots:
            if not self.can_go_on:
                break
            steps = _envelope(smtp, slot)
            if isinstance(steps, Decision):
                self._decide(slot, steps)
            else:
                await self._group([*self._take_owed(), *steps])

    async def flush(self) -> None:
        """Write what is still owed (a content, a lone dot, an RSET) and read its reply."""
        if self.owed is not None and not self.lost:
            await self._group(self._take_owed())

    def _take_owed(self) -> list[_Step]:
        owed, self.owed = self.owed, None
        return [] if owed is None else [owed]

    async def _group(self, steps: list[_Step]) -> None:
        self.reader.write(b"".join(step.data for step in steps))
        for step in steps:
            if step.slot is not None and step.kind == "mail":
                step.slot.written = True
            elif step.slot is not None and step.kind == "content":
                step.slot.state.stage, step.slot.state.data_sent = "data-end", True
        for step in steps:
            self._on_reply(step, await self.reader.read(self.timeout))

    def _on_reply(self, step: _Step, reply: SMTPResponse) -> None:
        slot = step.slot
        if step.kind == "rset" and reply.code != 250:
            raise _OutOfStep(f"RSET refused: {reply.code} {reply.message}")
        if slot is None:  # RSET done, or the lone dot's reply (nothing to deliver)
            return
        if step.kind == "content":
            self._decide(slot, classify_reply(reply.code, reply.message, "data-end"))
            return
        slot.replies.append(reply)
        slot.state.stage = "rcpt" if step.kind == "mail" else "data"
        if step.kind == "data":
            self._settle(slot)

    def _settle(self, slot: Slot) -> None:
        """MAIL, RCPT and DATA have all replied: content next, or a decision."""
        refusal = _refusal(slot)
        if refusal is None:
            self.owed = _Step("content", wire_content(slot.message.data), slot)
            return
        self._decide(slot, refusal)
        if slot.replies[2].code == 354:  # RFC 2920 section 3.1: DATA accepted anyway
            self.owed = _Step("dot", b".\r\n")
        elif slot.replies[0].code == 250:  # the transaction is still open
            self.owed = _Step("rset", b"RSET\r\n")

    def _decide(self, slot: Slot, decision: Decision) -> None:
        slot.decision = decision
        self.halted = self.halted or decision.kind in _STOPS_THE_RUN
        self.lost = self.lost or decision.kind == "connection"
        if self.on_decided is not None:
            self.on_decided(slot)


class Stream:
    """Pipelined batches on one connection, each batch's last content riding with the
    first commands of the next one (RFC 2920 section 3.1).

    :meth:`send` writes a batch and leaves its last content *owed*: it is written at
    the head of the next batch's first group, so going from one batch to the next
    costs no round trip. The batch is decided when that content's reply is read;
    ``on_done`` (given with the batch) is then called at once, so that its outcome
    is recorded before the next batch goes on. :meth:`finish` writes what is still
    owed, reads its reply and gives the connection back to aiosmtplib (for QUIT).

    SMTP and network errors never escape: they become decisions (see
    :func:`send_batch`), and the stream is then over (``usable`` is False).
    Cancellation propagates; the slots then hold what was decided so far.
    """

    def __init__(self, smtp: SMTP, *, stopping: Callable[[], bool]) -> None:
        self.smtp = smtp
        self.stopping = stopping
        self._reader, self._protocol, self._transport = install_reader(smtp)
        self._exchange = _Exchange(smtp, self._reader, stopping)
        self._exchange.on_decided = self._on_decided
        self._open: list[tuple[list[Slot], Callable[[], None]]] = []  # batches not yet decided
        self._failed = False

    @property
    def usable(self) -> bool:
        """Whether another batch may be sent on this stream."""
        return not self._failed and self.smtp.is_connected and self._exchange.can_go_on

    async def send(self, slots: Sequence[Slot], on_done: Callable[[], None]) -> None:
        """Write the transactions of ``slots``; call ``on_done`` once all are decided
        (now, or when the reply to the last content is read, during the next batch or
        :meth:`finish`)."""
        self._open.append((list(slots), on_done))
        if self._failed:
            self._settle_all(SMTPServerDisconnected("Connection lost"))
            return
        try:
            await self._exchange.run(slots, self.smtp)
        except (SMTPException, OSError) as exc:
            self._settle_all(exc)
            return
        self._check_open()
        if not self.usable:  # a reply stopped the run or lost the connection: end here
            await self.finish()

    async def finish(self) -> None:
        """Write what is owed, read every reply, and hand the connection back."""
        if not self._failed and self.smtp.is_connected:
            try:
                await self._exchange.flush()
            except (SMTPException, OSError) as exc:
                self._settle_all(exc)
                return
        self._release()
        self._settle_all(None)

    def _on_decided(self, slot: Slot) -> None:
        self._check_open()

    def _check_open(self) -> None:
        """Call ``on_done`` for the oldest batches that are fully decided."""
        while self._open and all(s.decision is not None for s in self._open[0][0]):
            _, on_done = self._open.pop(0)
            on_done()

    def _release(self) -> None:
        """Give aiosmtplib's protocol back, or close when a reply is left unread."""
        if self._transport.is_closing():
            return
        if self._reader.clean and not self._failed:
            self._transport.set_protocol(self._protocol)
        else:  # a reply nobody read: commands and replies would be out of step
            self.smtp.close()

    def _settle_all(self, exc: BaseException | None) -> None:
        """The stream is over: decide every open slot, then call the batches' on_done."""
        slots = [slot for batch, _ in self._open for slot in batch]
        if exc is not None:
            self._failed = True
            self.smtp.close()
            _decide_in_flight(slots, exc)
        _conclude_batch(self.smtp, slots, self.stopping)
        while self._open:
            _, on_done = self._open.pop(0)
            on_done()


def _conclude_batch(smtp: SMTP, slots: Sequence[Slot], stopping: Callable[[], bool]) -> None:
    """After the exchange: close a connection left in doubt; decide what was not sent."""
    decided = [s.decision.kind for s in slots if s.decision is not None]
    if smtp.is_connected and not {"connection", "uncertain"} & set(decided):
        return
    smtp.close()
    if stopping() or _STOPS_THE_RUN & set(decided):
        return  # the run stops: what was not handed over stays undecided (paused)
    for slot in slots:
        if slot.decision is None:
            slot.decision = Decision("connection", None, NOT_SENT)


async def send_batch(smtp: SMTP, slots: Sequence[Slot], *, stopping: Callable[[], bool]) -> None:
    """Send the messages of ``slots`` pipelined on ``smtp``, deciding each slot.

    SMTP and network errors never escape: they become decisions, and the connection
    is closed when it is no longer usable. Cancellation propagates; the slots then
    hold what was decided so far and each one's :class:`TransactionState`.
    ``stopping`` is asked before each new transaction.
    """
    try:
        stream = Stream(smtp, stopping=stopping)
    except (SMTPException, OSError) as exc:
        smtp.close()
        _decide_in_flight(slots, exc)
        _conclude_batch(smtp, slots, stopping)
        return
    await stream.send(slots, lambda: None)
    await stream.finish()


def _decide_in_flight(slots: Sequence[Slot], exc: BaseException) -> None:
    """After the connection failed: decide every message whose commands went out."""
    for slot in slots:
        if slot.decision is None and slot.written and not slot.replies:
            # Its commands went out but the server answered none of them before the
            # connection failed: as good as never written, the attempt is given back.
            slot.decision = Decision("connection", None, NOT_SENT)
        elif slot.decision is None and slot.written:
            refusal = None if slot.state.data_sent else _refusal(slot)
            slot.decision = refusal or classify_error(
                exc, slot.state.stage, data_sent=slot.state.data_sent
            )
