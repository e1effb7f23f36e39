"""Read bounces and auto-replies from the sending account's inbox over IMAP.

Settings come from ``[imap]`` (:class:`notify.settings.ImapSettings`); what is left
empty comes from the sending account: the server of the ``[smtp]`` provider preset
(:data:`IMAP_PRESETS`), the ``[smtp]`` user name, and its password
(``NOTIFY_SMTP__PASSWORD`` or ``smtp.password_command``) unless
``NOTIFY_IMAP__PASSWORD`` is set.

Safety: the certificate is always verified (``imap.ca_file`` adds a private CA);
``security = "starttls"`` fails loudly when the server does not offer STARTTLS;
``"none"`` is refused except to this machine. The inbox is opened read-only
(EXAMINE, BODY.PEEK: nothing is marked seen) unless ``imap.move_to`` is set; then
the messages that are *settled* (a bounce, auto-reply or receipt whose every record
was matched and recorded) are moved there after being recorded, and everything a
person should read (replies, unmatched or unreadable notices) stays where it is.
``since`` limits the reading with IMAP ``SEARCH SINCE`` (the day the server
received the message).

Every failure of the account (unreachable, TLS, login refused, connection lost)
raises :class:`~notify.errors.AccountError`, whose message never holds the password.
"""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from pydantic import SecretStr

from notify.bounces.intake import IntakeSummary, MessageOutcome, fold_message
from notify.deliver.account import is_loopback, run_secret_command
from notify.errors import AccountError, ConfigError
from notify.journal import Journal
from notify.settings import Settings

Security = Literal["tls", "starttls", "none"]

#: The IMAP server of each provider preset of ``smtp.provider`` (TLS on port 993).
IMAP_PRESETS: Final[dict[str, tuple[str, int]]] = {
    "gmail": ("imap.gmail.com", 993),
    "outlook": ("outlook.office365.com", 993),
    "orange": ("imap.orange.fr", 993),
    "free": ("imap.free.fr", 993),
    "sfr": ("imap.sfr.fr", 993),
    "ovh": ("ssl0.ovh.net", 993),
    "laposte": ("imap.laposte.net", 993),
    "ionos": ("imap.ionos.fr", 993),
    "yahoo": ("imap.mail.yahoo.com", 993),
}
_DEFAULT_PORTS: Final[dict[str, int]] = {"tls": 993, "starttls": 143, "none": 143}
_BATCH: Final = 25
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_UID_RE: Final = re.compile(rb"\bUID (\d+)")


@dataclass(frozen=True)
class ImapAccount:
    """Where the inbox is and how to log in; ``password`` never shows in ``repr``."""

    host: str
    port: int
    security: Security
    username: str
    password: SecretStr = field(repr=False)
    folder: str = "INBOX"
    move_to: str = ""
    ca_file: Path | None = None
    timeout: float = 60.0

    def describe(self) -> str:
        """``user on host:port (security)``, for messages; holds no secret."""
        return f"{self.username} on {self.host}:{self.port} ({self.security})"

    def tls_context(self) -> ssl.SSLContext:
        """A client context that verifies the certificate and the host name."""
        try:
            return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"imap.ca_file {self.ca_file}: cannot be read as a CA bundle ({exc})",
                hint="Give the path of a PEM file holding the certificate authority.",
            ) from None


def imap_account(settings: Settings) -> ImapAccount:
    """The inbox to read, from ``[imap]`` completed by the sending account (``[smtp]``).

    Raises :class:`ConfigError` when the server, the user or the password is missing,
    or when ``security = "none"`` is asked for a server that is not this machine.
    """
    imap, smtp = settings.imap, settings.smtp
    preset = IMAP_PRESETS.get((smtp.provider or "").strip().lower())
    host = imap.host.strip() or (preset[0] if preset else "")
    if not host:
        raise ConfigError(
            "no IMAP server to read bounces from: imap.host is empty",
            hint="Set imap.host (and imap.port, imap.security) in notify.toml, or give "
            "a SOURCE: an mbox, Maildir or .eml export of the inbox.",
        )
    security: Security = imap.security or "tls"
    port = imap.port or _DEFAULT_PORTS[security]
    if preset and host == preset[0] and security == "tls" and imap.port is None:
        port = preset[1]
    _check_security(host, port, security, imap.timeout)
    username = imap.username or smtp.username
    if not username:
        raise ConfigError(
            f"no IMAP user name for {host}",
            hint="Set imap.username (or smtp.username) in notify.toml.",
        )
    password = _password(settings, username)
    return ImapAccount(
        host, port, security, username, password, imap.folder or "INBOX", imap.move_to.strip(),
        imap.ca_file, imap.timeout,
    )  # fmt: skip


def _check_security(host: str, port: int, security: Security, timeout: float) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"imap.port {port} is not a TCP port", hint="Use 993 (tls) or 143.")
    if timeout <= 0:
        raise ConfigError("imap.timeout must be more than 0 seconds", hint="Try 60.")
    if security == "none" and not is_loopback(host):
        raise ConfigError(
            f"imap.security = 'none' is refused for {host}: the password and the "
            "messages would cross the network unencrypted",
            hint="Use security 'tls' (port 993) or 'starttls' (port 143); 'none' is only "
            "allowed for a server on this machine (localhost, 127.0.0.1, ::1).",
        )


def _password(settings: Settings, username: str) -> SecretStr:
    for secret in (settings.imap.password, settings.smtp.password):
        if secret is not None and secret.get_secret_value():
            return secret
    if settings.smtp.password_command.strip():
        return run_secret_command(settings.smtp.password_command, setting="smtp.password_command")
    raise ConfigError(
        f"no IMAP password for {username}",
        hint="Set NOTIFY_IMAP__PASSWORD (environment or .env); an account that signs in "
        "with OAuth2 needs an app password for IMAP.",
    )


def imap_date(moment: date | datetime) -> str:
    """``moment`` as an IMAP date (``26-Nov-2026``), whatever the locale."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def mailbox_name(name: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + raw.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    encoded = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{encoded}"'


class Inbox:
    """One IMAP session on the account's folder: ``with Inbox(account) as inbox:``.

    ``writable`` (default: when ``account.move_to`` is set) opens the folder with
    SELECT instead of EXAMINE; only :meth:`move` changes anything.
    """

    def __init__(self, account: ImapAccount, *, writable: bool | None = None) -> None:
        self.account = account
        self.writable = bool(account.move_to) if writable is None else writable
        self._conn: imaplib.IMAP4 | None = None
        self._caps: set[str] = set()

    def __enter__(self) -> Inbox:
        with self._translate("cannot connect"):
            self._conn = self._connect()
            try:
                self._login()
                self._select()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Log out (quietly: the session is over either way)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(imaplib.IMAP4.error, OSError):
                conn.logout()  # shuts the socket down whatever the server answers

    @property
    def conn(self) -> imaplib.IMAP4:
        """The open connection."""
        if self._conn is None:
            raise AccountError("the IMAP session is closed (a bug in notify)")
        return self._conn

    def search(self, since: date | datetime | None = None) -> list[bytes]:
        """The UIDs of the folder's messages (received since ``since``), oldest first."""
        criteria = ("SINCE", imap_date(since)) if since is not None else ("ALL",)
        with self._translate("cannot list the messages"):
            typ, data = self.conn.uid("SEARCH", *criteria)
        self._check(typ, data, "SEARCH")
        return [uid for line in data if line for uid in bytes(line).split()]

    def fetch(self, uids: Sequence[bytes]) -> Iterator[tuple[bytes, str, bytes]]:
        """``(uid, where, raw message)`` for each UID, without marking anything seen."""
        for start in range(0, len(uids), _BATCH):
            batch = b",".join(uids[start : start + _BATCH]).decode("ascii")
            with self._translate("cannot read the messages"):
                typ, data = self.conn.uid("FETCH", batch, "(UID BODY.PEEK[])")
            self._check(typ, data, "FETCH")
            for uid, raw in _fetched(data):
                yield uid, self.where(uid), raw

    def where(self, uid: bytes) -> str:
        """How a message is named in reports: ``imap://host:port/folder;UID=n``."""
        return f"imap://{self.account.host}:{self.account.port}/{self.account.folder};UID={uid.decode()}"

    def move(self, uids: Sequence[bytes]) -> None:
        """Move these messages to ``move_to`` (creating it); nothing when read-only."""
        target = self.account.move_to
        if not uids or not target or not self.writable:
            return
        folder, uid_set = mailbox_name(target), b",".join(uids).decode("ascii")
        with self._translate(f"cannot move messages to {target!r}"):
            self._ensure_folder(folder)
            if "MOVE" in self._caps:
                typ, data = self.conn.uid("MOVE", uid_set, folder)
                self._check(typ, data, "MOVE")
                return
            typ, data = self.conn.uid("COPY", uid_set, folder)
            self._check(typ, data, "COPY")
            self.conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
            if "UIDPLUS" in self._caps:  # expunge only ours, never the user's deletions
                self.conn.uid("EXPUNGE", uid_set)

    def _connect(self) -> imaplib.IMAP4:
        account = self.account
        if account.security == "tls":
            return imaplib.IMAP4_SSL(
                account.host,
                account.port,
                ssl_context=account.tls_context(),
                timeout=account.timeout,
            )
        conn = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
        try:
            if account.security == "starttls":
                self._starttls(conn)
        except BaseException:
            with suppress(OSError):
                conn.shutdown()
            raise
        return conn

    def _starttls(self, conn: imaplib.IMAP4) -> None:
        account = self.account
        if "STARTTLS" not in conn.capabilities:
            raise AccountError(
                f"{account.host}:{account.port} does not offer STARTTLS: refusing to "
                "send the password unencrypted",
                hint="Check imap.host and imap.port, or use imap.security = 'tls' "
                "(usually port 993).",
            )
        conn.starttls(ssl_context=account.tls_context())

    def _login(self) -> None:
        conn, account = self.conn, self.account
        if "LOGINDISABLED" in conn.capabilities and "AUTH=PLAIN" not in conn.capabilities:
            raise AccountError(
                f"{account.host} refuses to log in on an unencrypted connection",
                hint="Use imap.security = 'tls' (port 993) or 'starttls'.",
            )
        secret = account.password.get_secret_value()
        try:
            if "AUTH=PLAIN" in conn.capabilities:
                token = f"\0{account.username}\0{secret}".encode()
                conn.authenticate("PLAIN", lambda _challenge: token)
            else:
                conn.login(account.username, secret)
        except (imaplib.IMAP4.error, UnicodeEncodeError) as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            raise AccountError(
                f"login refused for {account.describe()}: {_said(exc, secret)}",
                hint="Check imap.username and the password (NOTIFY_IMAP__PASSWORD, else "
                "the SMTP one); some providers need an app password or IMAP enabled.",
            ) from None
        typ, data = conn.capability()
        self._check(typ, data, "CAPABILITY")
        self._caps = {c.upper() for c in b" ".join(data).decode("ascii", "replace").split()}

    def _select(self) -> None:
        folder = self.account.folder
        typ, data = self.conn.select(mailbox_name(folder), readonly=not self.writable)
        if typ != "OK":
            raise ConfigError(
                f"folder {folder!r} cannot be opened on {self.account.host}: {_said(data)}",
                hint="Check imap.folder (INBOX by default).",
            )

    def _ensure_folder(self, folder: str) -> None:
        typ, data = self.conn.list('""', folder)
        if typ == "OK" and any(item for item in data if item):
            return
        typ, data = self.conn.create(folder)
        self._check(typ, data, "CREATE")
        self.conn.subscribe(folder)

    def _check(self, typ: str, data: Sequence[object], command: str) -> None:
        if typ != "OK":
            raise AccountError(
                f"{self.account.host} answered {typ} to {command}: {_said(data)}",
                hint="Run the command again; if it persists, check the account in a mail client.",
            )

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Turn socket, TLS and IMAP protocol failures into :class:`AccountError`."""
        where = f"{self.account.host}:{self.account.port}"
        secret = self.account.password.get_secret_value()
        try:
            yield
        except ssl.SSLCertVerificationError as exc:
            raise AccountError(
                f"{what}: the TLS certificate of {where} is not trusted "
                f"({exc.verify_message or exc.reason})",
                hint="Check imap.host; for a private server, set imap.ca_file to its CA.",
            ) from None
        except ssl.SSLError as exc:
            raise AccountError(
                f"{what}: TLS failed with {where} ({exc.reason or exc})",
                hint="Check imap.port and imap.security (tls on 993, starttls on 143).",
            ) from None
        except TimeoutError:
            raise AccountError(
                f"{what}: no answer from {where} within {self.account.timeout:g} s",
                hint="Check the network and imap.host, or raise imap.timeout.",
            ) from None
        except imaplib.IMAP4.error as exc:
            raise AccountError(
                f"{what}: {where} broke off the session ({_said(exc, secret)})",
                hint="Run the command again: what was recorded so far is kept.",
            ) from None
        except OSError as exc:
            raise AccountError(
                f"{what}: {where} cannot be reached ({exc.strerror or exc})",
                hint="Check imap.host and imap.port, and the network connection.",
            ) from None


def _said(value: object, secret: str = "") -> str:
    """What the server said, as short readable text (never the password)."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list | tuple):
        value = b" ".join(v if isinstance(v, bytes) else str(v).encode() for v in value if v)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if secret:
        text = text.replace(secret, "********")
    return text.strip()[:300] or "no reason given"


def _fetched(data: Sequence[object]) -> Iterator[tuple[bytes, bytes]]:
    """``(uid, raw message)`` from a ``UID FETCH (UID BODY.PEEK[])`` answer."""
    pending: bytes | None = None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            head, body = bytes(item[0]), bytes(item[1])
            found = _UID_RE.search(head)
            if found:
                yield found.group(1), body
            else:  # the server put UID after the literal: it follows as bytes
                pending = body
        elif isinstance(item, bytes) and pending is not None:
            found = _UID_RE.search(item)
            if found:
                yield found.group(1), pending
            pending = None


def read_inbox(
    account: ImapAccount, since: date | datetime | None = None
) -> Iterator[tuple[str, bytes]]:
    """``(where, raw message)`` for each message of the folder, read-only (dry runs)."""
    with Inbox(account, writable=False) as inbox:
        for _uid, where, data in inbox.fetch(inbox.search(since)):
            yield where, data


def fold_inbox(
    journal: Journal,
    account: ImapAccount,
    *,
    since: date | datetime | None = None,
    on_total: Callable[[int], None] | None = None,
    on_message: Callable[[MessageOutcome], None] | None = None,
) -> IntakeSummary:
    """Fold the folder's messages into ``journal``; move the settled ones if asked.

    A message is moved (``move_to``) only after it is recorded, batch by batch, so
    a failure part-way loses nothing: run again to go on.
    """
    summary = IntakeSummary()
    with Inbox(account) as inbox:
        uids = inbox.search(since)
        if on_total is not None:
            on_total(len(uids))
        for start in range(0, len(uids), _BATCH):
            settled: list[bytes] = []
            for uid, where, data in inbox.fetch(uids[start : start + _BATCH]):
                outcome = fold_message(journal, where, data, summary)
                if outcome.settled:
                    settled.append(uid)
                if on_message is not None:
                    on_message(outcome)
            inbox.move(settled)
    return summary
