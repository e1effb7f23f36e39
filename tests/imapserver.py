"""A private Dovecot IMAP server for the tests, and its pytest fixture ``dovecot``.

Each server has its own configuration file (nothing from /etc/dovecot), listens on
127.0.0.1 on free ports, logs to a file beside its configuration, and knows one user
with a canary password. Its mailbox is loaded before it starts (files copied into
the Maildir's ``new/``, with the received date set through the file's mtime).

Variants: ``tls=False`` (``ssl = no``: plain IMAP on loopback, no STARTTLS) and
``tls=True`` (a trustme certificate for 127.0.0.1: IMAPS on ``tls_port`` and
STARTTLS on ``port``, ``ssl = required``).

Running as root, Dovecot refuses to give mail to uid 0: the mail processes run as
``nobody`` and the Maildir lives in a private folder under /tmp that ``nobody``
owns (pytest's tmp_path is not reachable by other users); it is removed afterwards.
As any other user, everything runs as that user inside tmp_path.

Tests using it are marked ``integration`` and skip, saying why, when the dovecot
binary is absent (install it with scripts/system-deps.sh).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr

from notify.bounces.imap import ImapAccount, Security, mailbox_name

USER = "secours.martin@exemple.org"
CANARY = "canary-IMAP-pw-5f3e9a"  # must never appear in any output
_SEARCH_PATH = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin"))
DOVECOT = shutil.which("dovecot", path=_SEARCH_PATH)
SKIP_REASON = "dovecot is not installed: run scripts/system-deps.sh (apt-get install dovecot-imapd)"


@dataclass(frozen=True, slots=True)
class Mail:
    """A message to load: its bytes, and the day the server received it."""

    data: bytes
    received: datetime | None = None


@dataclass
class ImapServer:
    """A running private Dovecot."""

    port: int
    tls_port: int | None
    maildir: Path
    log: Path
    ca_file: Path | None
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    cleanup: list[Path] = field(default_factory=list)

    def account(self, **changes: object) -> ImapAccount:
        """An account for this server (plain, or IMAPS when it has TLS)."""
        tls = self.tls_port is not None
        values: dict[str, object] = {
            "host": self.host,
            "port": self.tls_port if tls else self.port,
            "security": "tls" if tls else "none",
            "username": USER,
            "password": SecretStr(CANARY),
            "ca_file": self.ca_file,
            "timeout": 10.0,
        }
        values.update(changes)
        return ImapAccount(**values)  # type: ignore[arg-type]

    def env(self, security: Security | None = None) -> dict[str, str]:
        """NOTIFY_* variables that point ``notify bounces`` at this server."""
        account = self.account(**({"security": security} if security else {}))
        if security == "starttls":
            account = self.account(security="starttls", port=self.port)
        env = {
            "NOTIFY_IMAP__HOST": account.host,
            "NOTIFY_IMAP__PORT": str(account.port),
            "NOTIFY_IMAP__SECURITY": account.security,
            "NOTIFY_IMAP__USERNAME": USER,
            "NOTIFY_IMAP__PASSWORD": CANARY,
            "NOTIFY_IMAP__TIMEOUT": "10",
        }
        if self.ca_file is not None:
            env["NOTIFY_IMAP__CA_FILE"] = str(self.ca_file)
        return env

    @contextlib.contextmanager
    def client(self, folder: str = "INBOX") -> Iterator[imaplib.IMAP4]:
        """A logged-in session on ``folder`` (read-only) to check what the code did."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            if self.tls_port is not None:
                conn.starttls(ssl_context=self.account().tls_context())
            conn.login(USER, CANARY)
            typ, _ = conn.select(mailbox_name(folder), readonly=True)
            assert typ == "OK", f"no folder {folder}"
            yield conn
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()

    def flags(self, folder: str = "INBOX") -> list[str]:
        """The flags of each message of ``folder``, in order."""
        with self.client(folder) as conn:
            _typ, data = conn.fetch("1:*", "(FLAGS)")
            if not data or data == [None]:
                return []
            return [item.decode() for item in data if isinstance(item, bytes)]

    def count(self, folder: str = "INBOX") -> int:
        """How many messages ``folder`` holds."""
        with self.client(folder) as conn:
            _typ, data = conn.search(None, "ALL")
            return len(data[0].split()) if data and data[0] else 0

    def stop(self) -> None:
        """Stop the server (by its own pid) and remove the private folders."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _identity() -> tuple[str, int, int, str]:
    """(user, uid, gid, group) the mail processes run as."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_name, nobody.pw_uid, nobody.pw_gid, grp.getgrgid(nobody.pw_gid).gr_name
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_uid, me.pw_gid, grp.getgrgid(me.pw_gid).gr_name


def _users_block(root: bool, base: Path) -> str:
    """Who runs what: privileged helpers when root, everything as oneself otherwise."""
    if root:
        return "default_login_user = dovenull\ndefault_internal_user = dovecot\n" + (
            "service auth {\n  user = root\n}\n"  # reads the 0600 passwd file
        )
    user, _, _, group = _identity()
    lines = [
        f"default_login_user = {user}",
        f"default_internal_user = {user}",
        f"default_internal_group = {group}",
        "service imap-login {\n  chroot =\n}",
        "service anvil {\n  chroot =\n}",
        f"service auth {{\n  user = {user}\n}}",
    ]
    return "\n".join(lines) + "\n"


def _config(
    base: Path,
    runtime: Path,
    home: Path,
    ports: tuple[int, int | None],
    certs: tuple[Path, Path] | None,
) -> str:
    root = os.geteuid() == 0
    _, uid, gid, _ = _identity()
    ssl = "ssl = no\n"
    if certs is not None:
        ssl = f"ssl = required\nssl_cert = <{certs[0]}\nssl_key = <{certs[1]}\n"
    return f"""# written by tests/imapserver.py: nothing from /etc/dovecot
protocols = imap
listen = 127.0.0.1
base_dir = {runtime}/run
state_dir = {runtime}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{home}/Maildir
{ssl}{_users_block(root, base)}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {ports[0]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ports[1] or 0}
  }}
}}
"""


def _load(home: Path, mails: Sequence[Mail]) -> None:
    maildir = home / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for number, mail in enumerate(mails, start=1):
        path = maildir / "new" / f"{1700000000 + number}.M{number}P1.test"
        path.write_bytes(mail.data)
        if mail.received is not None:
            stamp = mail.received.timestamp()
            os.utime(path, (stamp, stamp))
    if os.geteuid() == 0:
        _, uid, gid, _ = _identity()
        for path in [home, *home.rglob("*")]:
            os.chown(path, uid, gid)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited ({process.returncode}): {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on 127.0.0.1:{port}: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def start_dovecot(
    tmp_path: Path, mails: Sequence[Mail] = (), *, tls: bool = False, ca: trustme.CA | None = None
) -> ImapServer:
    """Start a private Dovecot in ``tmp_path`` with ``mails`` in the user's INBOX."""
    if DOVECOT is None:
        pytest.skip(SKIP_REASON)
    base = tmp_path / "dovecot"
    base.mkdir()
    cleanup: list[Path] = []
    if os.geteuid() == 0:
        private = Path(tempfile.mkdtemp(prefix="notify-dovecot-"))
        private.chmod(0o711)
        cleanup.append(private)
        runtime = private
    else:
        runtime = base
    home = runtime / "home"
    home.mkdir()
    _load(home, mails)
    (base / "passwd").write_text(f"{USER}:{{PLAIN}}{CANARY}::::::\n")
    (base / "passwd").chmod(0o600)
    certs, ca_file = None, None
    if tls:
        ca = ca or trustme.CA()
        issued = ca.issue_cert("127.0.0.1", "localhost")
        certs = (base / "cert.pem", base / "key.pem")
        issued.cert_chain_pems[0].write_to_path(str(certs[0]))
        for blob in issued.cert_chain_pems[1:]:
            blob.write_to_path(str(certs[0]), append=True)
        issued.private_key_pem.write_to_path(str(certs[1]))
        ca_file = base / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
    port, tls_port = free_port(), (free_port() if tls else None)
    config = base / "dovecot.conf"
    config.write_text(_config(base, runtime, home, (port, tls_port), certs))
    log = base / "dovecot.log"
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = ImapServer(port, tls_port, home / "Maildir", log, ca_file, process, cleanup=cleanup)
    try:
        _wait_ready(process, port, log)
        if tls_port is not None:
            _wait_ready(process, tls_port, log)
    except BaseException:
        server.stop()
        raise
    return server


DovecotFactory = Callable[..., ImapServer]


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotFactory]:
    """Start private Dovecot servers: ``dovecot(mails, tls=False)``; stopped afterwards."""
    started: list[ImapServer] = []

    def start(mails: Sequence[Mail] = (), *, tls: bool = False) -> ImapServer:
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        server = start_dovecot(folder, mails, tls=tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
