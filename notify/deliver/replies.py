"""Reading SMTP replies when several commands are in flight (PIPELINING, RFC 2920).

aiosmtplib's ``SMTPProtocol`` keeps one reply per command and drops bytes that
arrive while no command waits, which several replies in flight would hit.
:class:`ReplyReader` stands in for it on the transport (``transport.set_protocol``)
while a pipelined conversation lasts: it keeps every reply, in order, each parsed
by :func:`parse_replies`, and passes losing the connection and flow control on to
aiosmtplib's protocol, so that the SMTP object still knows its state.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPReadTimeoutError,
    SMTPResponse,
    SMTPResponseException,
    SMTPServerDisconnected,
)
from aiosmtplib.protocol import MAX_LINE_LENGTH, MAX_RESPONSE_LENGTH, SMTPProtocol
from aiosmtplib.typing import SMTPStatus


def parse_replies(buffer: bytearray) -> list[SMTPResponse]:
    """Take every complete reply off the front of ``buffer``, in order.

    A reply is one or more lines ``NNN-text`` ended by a line ``NNN text`` (RFC 5321
    section 4.2.1); an incomplete one stays in ``buffer``. Raises
    SMTPResponseException for a malformed or oversized reply, like aiosmtplib.
    """
    replies: list[SMTPResponse] = []
    lines: list[bytes] = []
    offset = consumed = 0
    while (end := buffer.find(b"\n", offset)) != -1:
        line = bytes(buffer[offset : end + 1])
        offset = end + 1
        if len(line) > MAX_LINE_LENGTH:
            raise SMTPResponseException(SMTPStatus.invalid_response, "Response too long")
        try:
            code = int(line[:3])
        except ValueError:
            text = line.decode("utf-8", "ignore")
            raise SMTPResponseException(
                SMTPStatus.invalid_response, f"Malformed SMTP response line: {text}"
            ) from None
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            text = b"\n".join(lines).decode("utf-8", "surrogateescape")
            replies.append(SMTPResponse(code, text))
            lines, consumed = [], offset
    del buffer[:consumed]
    if len(buffer) > MAX_RESPONSE_LENGTH:
        raise SMTPResponseException(SMTPStatus.invalid_response, "Response too long")
    return replies


class ReplyReader(asyncio.Protocol):
    """Stands in for aiosmtplib's protocol during a batch; keeps every reply in order.

    Losing the connection is passed on to aiosmtplib's protocol, so the SMTP object
    knows it is closed; so is flow control.
    """

    def __init__(self, inner: SMTPProtocol, transport: asyncio.WriteTransport) -> None:
        self._inner = inner
        self._transport = transport
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._error: SMTPException | None = None
        self._arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        """Keep the bytes; parse every reply they complete."""
        self._buffer.extend(data)
        try:
            self._replies.extend(parse_replies(self._buffer))
        except SMTPResponseException as exc:
            self._error = self._error or exc
        self._arrived.set()

    def eof_received(self) -> bool:
        """The server closed its side: no reply will come (the transport closes)."""
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """No reply will come; tell aiosmtplib's protocol too."""
        error = SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._fail(error)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Flow control, passed on."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Flow control, passed on."""
        self._inner.resume_writing()

    def _fail(self, error: SMTPException) -> None:
        self._error = self._error or error
        self._arrived.set()

    @property
    def clean(self) -> bool:
        """True when every reply received has been read and no partial one waits."""
        return not self._replies and not self._buffer and self._error is None

    def write(self, data: bytes) -> None:
        """Write one group (never blocks: the transport buffers)."""
        if self._transport.is_closing():
            raise SMTPServerDisconnected("Connection lost")
        self._transport.write(data)

    async def read(self, timeout: float | None) -> SMTPResponse:
        """The next reply, waiting at most ``timeout`` seconds for it."""
        if self._replies:  # already here (the replies to a group mostly come at once)
            return self._replies.popleft()
        try:
            async with asyncio.timeout(timeout):
                while not self._replies:
                    if self._error is not None:
                        raise self._error
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError as exc:
            raise SMTPReadTimeoutError("Timed out waiting for server response") from exc
        return self._replies.popleft()


def install_reader(smtp: SMTP) -> tuple[ReplyReader, SMTPProtocol, asyncio.BaseTransport]:
    """Put a ReplyReader on the connection in place of aiosmtplib's protocol."""
    protocol = smtp.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or transport is None or transport.is_closing():
        raise SMTPServerDisconnected("Connection lost")
    reader = ReplyReader(protocol, cast(asyncio.WriteTransport, transport))
    transport.set_protocol(reader)
    return reader, protocol, transport
