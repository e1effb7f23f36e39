"""One SMTP session: open it (TLS, EHLO, AUTH), then one transaction per message.

:func:`send_one` does exactly one message's transaction on an open connection, so
SMTP PIPELINING (RFC 2920) is its sibling for a batch: :mod:`notify.deliver.pipeline`.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

from aiosmtplib import (
    SMTP,
    SMTPDataError,
    SMTPException,
    SMTPResponse,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from notify.deliver.account import Account, fetch_oauth2_token
from notify.deliver.classify import (
    Decision,
    Stage,
    classify_error,
    classify_reply,
    is_tls_failure,
)
from notify.deliver.model import Outgoing
from notify.errors import AccountError

QUIT_TIMEOUT = 5.0
# xtext leaves these characters as they are (RFC 3461 section 4: "!" to "~" but "+", "=").
_XTEXT_PLAIN = re.compile(r"[!-*,-<>-~]*")
# A dot-atom local part and a domain of letters, digits and hyphens, in ASCII: the
# addresses aiosmtplib's quote_address gives back unchanged, within angle brackets.
_SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


class SessionFailed(Exception):
    """Opening the session failed; ``decision`` says how (never holds a secret)."""

    def __init__(self, decision: Decision, stage: Stage) -> None:
        super().__init__(decision.text)
        self.decision = decision
        self.stage = stage


@dataclass
class TransactionState:
    """Where a transaction is; read by the engine when it is interrupted."""

    stage: Stage = "mail"
    data_sent: bool = False


class Client(SMTP):
    """aiosmtplib's client, whose every close also closes the socket at once.

    aiosmtplib closes its transport gracefully, on errors and after QUIT alike; over
    TLS that waits for the server's close_notify, and when the event loop ends first
    the socket is never closed (a descriptor held, a ResourceWarning). notify never
    reuses a connection it closes, so the transport is aborted: the socket closes on
    the loop's next turn.
    """

    def close(self) -> None:
        transport = self.transport
        super().close()
        if isinstance(transport, asyncio.Transport):
            transport.abort()


async def open_session(account: Account, tls: ssl.SSLContext | None, password: str | None) -> SMTP:
    """Connect, secure, greet and authenticate; raise SessionFailed or AccountError."""
    smtp = Client(
        hostname=account.host,
        port=account.port,
        timeout=account.timeout,
        use_tls=account.security == "tls",
        start_tls=False,
        tls_context=tls if account.security == "tls" else None,
        local_hostname=account.local_hostname(),
    )
    stage: Stage = "connect"
    try:
        await smtp.connect()
        stage = "ehlo"
        await smtp.ehlo()
        if account.security == "starttls":
            stage = "tls"
            await _starttls(smtp, account, tls)
            stage = "ehlo"
            await smtp.ehlo()
        stage = "auth"
        await _login(smtp, account, password)
    except (SMTPException, OSError) as exc:
        smtp.close()
        stage = "tls" if is_tls_failure(exc) else stage
        raise SessionFailed(classify_error(exc, stage), stage) from exc
    except BaseException:
        smtp.close()
        raise
    return smtp


async def _starttls(smtp: SMTP, account: Account, tls: ssl.SSLContext | None) -> None:
    if not smtp.supports_extension("starttls"):
        raise AccountError(
            f"{account.describe()}: the server does not offer STARTTLS; notify will not "
            "send the password and the messages unencrypted",
            hint="Check smtp.host and smtp.port, or use security 'tls' (usually port 465).",
        )
    await smtp.starttls(tls_context=tls, server_hostname=account.host)


async def _login(smtp: SMTP, account: Account, password: str | None) -> None:
    method = account.auth_method
    if method == "none":
        return
    offered = smtp.server_auth_methods
    if method == "oauth2":
        if "xoauth2" not in offered:
            raise AccountError(
                f"{account.describe()}: the server does not offer OAuth2 (XOAUTH2) login",
                hint="Remove smtp.oauth2_token_command and use a password, or check the host.",
            )
        token = await fetch_oauth2_token(account)
        await smtp.auth_xoauth2(account.username, token.get_secret_value())
        return
    if not smtp.supports_extension("auth"):
        raise AccountError(
            f"{account.describe()}: the server offers no login (AUTH)",
            hint="Check smtp.host and smtp.port: use the provider's submission server.",
        )
    await smtp.login(account.username, password or "")


async def close_session(smtp: SMTP) -> None:
    """Say QUIT (briefly) and close, socket included; never raises."""
    try:
        if smtp.is_connected:
            await smtp.quit(timeout=min(QUIT_TIMEOUT, smtp.timeout or QUIT_TIMEOUT))
    except (SMTPException, OSError):
        pass
    finally:
        smtp.close()
        await asyncio.sleep(0)  # the loop closes the socket on its next turn (see Client)


def xtext(value: str) -> str:
    """Encode ``value`` as RFC 3461 xtext (for ENVID and ORCPT)."""
    if _XTEXT_PLAIN.fullmatch(value):
        return value
    out = []
    for byte in value.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


def xtext_decode(value: str) -> str:
    """Decode RFC 3461 xtext (the inverse of :func:`xtext`)."""
    raw = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "+" and i + 3 <= len(value):
            try:
                raw.append(int(value[i + 1 : i + 3], 16))
            except ValueError:
                pass
            else:
                i += 3
                continue
        raw.extend(value[i].encode("utf-8"))
        i += 1
    return raw.decode("utf-8", "replace")


def quoted(address: str) -> str:
    """``<address>`` for MAIL FROM or RCPT TO, as aiosmtplib's ``quote_address`` gives it
    (which refuses what cannot go on a command line), without parsing a plain address."""
    if _SIMPLE_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return quote_address(address)


def wire_content(data: bytes) -> bytes:
    """The message as written after 354: CRLF line ends, dot-stuffed, the final dot.

    A composed message already has CRLF line ends and rarely a line starting with a
    dot: then it goes out as it is, without the two regular expressions.
    """
    if (
        data.endswith(b"\r\n")
        and not data.startswith(b".")
        and b"\n." not in data
        and data.count(b"\n") == data.count(b"\r") == data.count(b"\r\n")
    ):
        return data + b".\r\n"
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"


def needs_smtputf8(message: Outgoing) -> bool:
    """True when the envelope cannot be sent without SMTPUTF8 (RFC 6531)."""
    return message.needs_smtputf8 or not (message.mail_from.isascii() and message.rcpt.isascii())


def smtputf8_refusal(smtp: SMTP, message: Outgoing) -> Decision | None:
    """The permanent failure of a message that needs SMTPUTF8 the server does not offer."""
    if not needs_smtputf8(message) or smtp.supports_extension("smtputf8"):
        return None
    return Decision(
        "permanent",
        None,
        "the address needs internationalised mail (SMTPUTF8), which the sending "
        "server does not offer",
        hint="Reach this recipient another way (phone, letter) and record it.",
    )


def envelope_options(smtp: SMTP, message: Outgoing, utf8: bool) -> tuple[list[str], list[str]]:
    """ESMTP parameters for MAIL FROM and RCPT TO, from what the server offers."""
    mail: list[str] = []
    rcpt: list[str] = []
    if utf8:
        mail.append("SMTPUTF8")
    if smtp.supports_extension("8bitmime") and not message.data.isascii():
        mail.append("BODY=8BITMIME")
    if smtp.supports_extension("size"):
        mail.append(f"SIZE={len(message.data)}")
    if smtp.supports_extension("dsn"):
        mail.append("RET=HDRS")
        if message.envid:
            mail.append(f"ENVID={xtext(message.envid)}")
        rcpt.append("NOTIFY=FAILURE,DELAY")
        if message.rcpt.isascii():
            rcpt.append(f"ORCPT=rfc822;{xtext(message.rcpt)}")
    return mail, rcpt


async def send_one(smtp: SMTP, message: Outgoing, state: TransactionState) -> Decision:
    """One message's transaction (MAIL, RCPT, DATA) on an open connection.

    Returns the decision; SMTP and network errors never escape. After a refusal the
    connection is reset (RSET) for the next message, or closed when it is unusable.
    Cancellation propagates; ``state`` then says whether the content was sent.
    """
    refusal = smtputf8_refusal(smtp, message)
    if refusal is not None:
        return refusal
    utf8 = needs_smtputf8(message)
    mail_opts, rcpt_opts = envelope_options(smtp, message, utf8)
    encoding = "utf-8" if utf8 else "ascii"
    try:
        state.stage = "mail"
        await smtp.mail(message.mail_from, options=mail_opts, encoding=encoding)
        state.stage = "rcpt"
        await smtp.rcpt(message.rcpt, options=rcpt_opts, encoding=encoding)
        state.stage = "data"
        reply = await _data(smtp, message.data, state)
    except (SMTPException, OSError, ValueError, UnicodeError) as exc:
        decision = classify_error(exc, state.stage, data_sent=state.data_sent)
        await _after_failure(smtp, decision)
        return decision
    return classify_reply(reply.code, reply.message, "data-end")


async def _data(smtp: SMTP, data: bytes, state: TransactionState) -> SMTPResponse:
    reply = await smtp.execute_command(b"DATA")
    if reply.code != 354:
        raise SMTPDataError(reply.code, reply.message)
    protocol = smtp.protocol
    if protocol is None:
        raise SMTPServerDisconnected("Connection lost")
    protocol.write(wire_content(data))
    state.stage, state.data_sent = "data-end", True
    try:
        reply = await protocol.read_response(timeout=smtp.timeout)
    except (SMTPServerDisconnected, SMTPTimeoutError):
        smtp.close()
        raise
    if reply.code != 250:
        raise SMTPDataError(reply.code, reply.message)
    return reply


async def _after_failure(smtp: SMTP, decision: Decision) -> None:
    if decision.kind in ("connection", "uncertain") or not smtp.is_connected:
        smtp.close()
        return
    try:
        await smtp.rset()
    except (SMTPException, OSError):
        smtp.close()
