"""Reading the inbox over IMAP (notify.bounces.imap) against a private Dovecot."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from bouncemail import OWN, make_journal, own
from imapserver import CANARY, DOVECOT, SKIP_REASON, DovecotFactory, Mail, dovecot  # noqa: F401
from pydantic import SecretStr

import notify.cli.bouncecmd  # noqa: F401  (registers the command until notify.cli imports it)
from notify.bounces.imap import fold_inbox, imap_account, imap_date, mailbox_name, read_inbox
from notify.cli import main
from notify.errors import AccountError, ConfigError
from notify.journal import Journal
from notify.settings import ImapSettings, Settings, SmtpSettings

NOV_27 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
MAR_02 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BOUNCES = ("orange-boite-pleine.eml", "absent-du-cabinet.eml", "reponse-humaine.eml")


def mails(*names: str, received: datetime = NOV_27) -> list[Mail]:
    """Own test messages, received on ``received``."""
    return [Mail(own(name), received) for name in names]


# -- settings (no server) ------------------------------------------------------


def test_preset_gives_the_provider_imap_server() -> None:
    """With smtp.provider = orange and no [imap], the inbox is imap.orange.fr:993 over TLS."""
    settings = Settings(smtp=SmtpSettings(provider="orange", username="u", password=SecretStr("p")))
    account = imap_account(settings)
    assert (account.host, account.port, account.security) == ("imap.orange.fr", 993, "tls")
    assert account.username == "u"
    assert account.password.get_secret_value() == "p"


def test_imap_password_overrides_the_smtp_one() -> None:
    """NOTIFY_IMAP__PASSWORD wins over the SMTP password, which is the fallback."""
    settings = Settings(
        smtp=SmtpSettings(provider="gmail", username="u", password=SecretStr("smtp")),
        imap=ImapSettings(password=SecretStr("canary-imap-7f")),
    )
    assert imap_account(settings).password.get_secret_value() == "canary-imap-7f"
    assert "canary-imap-7f" not in repr(imap_account(settings))


def test_security_none_refused_off_loopback() -> None:
    """An unencrypted IMAP session is refused to any server but this machine."""
    settings = Settings(imap=ImapSettings(host="imap.exemple.fr", security="none", username="u",
                                          password=SecretStr("p")))  # fmt: skip
    with pytest.raises(ConfigError, match=r"refused for imap\.exemple\.fr"):
        imap_account(settings)


def test_missing_password_is_a_config_error() -> None:
    """No IMAP nor SMTP password: a ConfigError naming the variable to set."""
    settings = Settings(imap=ImapSettings(host="imap.exemple.fr", username="u"))
    with pytest.raises(ConfigError, match="NOTIFY_IMAP__PASSWORD"):
        imap_account(settings)


def test_imap_date_and_folder_names() -> None:
    """Dates are English whatever the locale; folder names are quoted modified UTF-7."""
    assert imap_date(NOV_27) == "27-Nov-2026"
    assert mailbox_name("INBOX") == '"INBOX"'
    assert mailbox_name("Traités & co") == '"Trait&AOk-s &- co"'


# -- against Dovecot -----------------------------------------------------------


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_read_only_by_default(dovecot: DovecotFactory, tmp_path: Path) -> None:  # noqa: F811
    """Without move_to the inbox is examined: every message stays, none marked seen."""
    server = dovecot(mails(*BOUNCES))
    make_journal(tmp_path / "j.db")
    with Journal.open(tmp_path / "j.db", create=False) as journal:
        summary = fold_inbox(journal, server.account())
    assert (summary.read, summary.hard_bounces, summary.delivered) == (3, 1, 1)
    assert server.count() == 3
    assert all("\\Seen" not in flags for flags in server.flags())


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_move_to_moves_only_settled_messages(dovecot: DovecotFactory, tmp_path: Path) -> None:  # noqa: F811
    """With move_to, matched bounces and auto-replies move; a person's reply stays."""
    server = dovecot(mails(*BOUNCES))
    make_journal(tmp_path / "j.db")
    with Journal.open(tmp_path / "j.db", create=False) as journal:
        fold_inbox(journal, server.account(move_to="Traités"))
    assert server.count("INBOX") == 1
    assert server.count("Traités") == 2


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_since_limits_the_search(dovecot: DovecotFactory) -> None:  # noqa: F811
    """SINCE leaves out what the server received before that day."""
    server = dovecot([*mails("reponse-humaine.eml", received=MAR_02), *mails(BOUNCES[0])])
    everything = list(read_inbox(server.account()))
    recent = list(read_inbox(server.account(), since=datetime(2026, 11, 26, tzinfo=UTC)))
    assert len(everything) == 2
    assert [data for _, data in recent] == [own(BOUNCES[0]).replace(b"\n", b"\r\n")] or (
        [data.replace(b"\r\n", b"\n") for _, data in recent] == [own(BOUNCES[0])]
    )


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_wrong_password_is_an_account_error_without_the_password(dovecot: DovecotFactory) -> None:  # noqa: F811
    """A refused login raises AccountError (exit 3) and never shows the password tried."""
    server = dovecot()
    wrong = "canary-WRONG-pw-1b2c"
    with pytest.raises(AccountError) as caught:
        list(read_inbox(server.account(password=SecretStr(wrong))))
    assert caught.value.exit_code == 3
    assert "login refused" in str(caught.value)
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_starttls_required_when_asked(dovecot: DovecotFactory) -> None:  # noqa: F811
    """security = starttls against a server without STARTTLS fails loudly, before login."""
    server = dovecot()
    with pytest.raises(AccountError, match="does not offer STARTTLS"):
        list(read_inbox(server.account(security="starttls")))
    assert "Login:" not in server.log.read_text()


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_tls_and_starttls_with_a_verified_certificate(dovecot: DovecotFactory) -> None:  # noqa: F811
    """IMAPS and STARTTLS both work when the certificate's CA is given."""
    server = dovecot(mails(BOUNCES[0]), tls=True)
    assert len(list(read_inbox(server.account()))) == 1
    starttls = server.account(security="starttls", port=server.port)
    assert len(list(read_inbox(starttls))) == 1


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_untrusted_certificate_is_refused(dovecot: DovecotFactory, tmp_path: Path) -> None:  # noqa: F811
    """A certificate from an unknown CA is an AccountError naming the fix (imap.ca_file)."""
    server = dovecot(tls=True)
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(AccountError, match="not trusted") as caught:
        list(read_inbox(server.account(ca_file=other)))
    assert "imap.ca_file" in str(caught.value)


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_cli_end_to_end_over_imap(
    dovecot: DovecotFactory,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`notify bounces` reads the inbox and lands each bounce on the right recipient."""
    names = sorted(p.name for p in OWN.glob("*.eml"))
    server = dovecot(mails(*names), tls=True)
    make_journal(tmp_path / "incident.db")
    monkeypatch.chdir(tmp_path)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["notify", "bounces", "--format", "json"])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code in (0, None), err
    summary = json.loads(out)
    assert (summary["read"], summary["hard_bounces"], summary["delivered"]) == (11, 5, 2)
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert journal.find_recipient("dr.lefebvre@orange.example")[0].state == "bounced"
        assert journal.find_recipient("labo.analyses@wanadoo.example")[0].state == "sent"
    assert CANARY not in out + err


@pytest.mark.integration
@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_cli_wrong_password_exits_3_without_the_password(
    dovecot: DovecotFactory,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused login: exit 3, a clear message, and the password in no output."""
    server = dovecot()
    make_journal(tmp_path / "incident.db")
    monkeypatch.chdir(tmp_path)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    wrong = "canary-WRONG-cli-9d8e"
    monkeypatch.setenv("NOTIFY_IMAP__PASSWORD", wrong)
    monkeypatch.setattr(sys, "argv", ["notify", "bounces"])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code == 3
    assert "login refused" in err
    assert wrong not in out + err
    assert "Traceback" not in err
