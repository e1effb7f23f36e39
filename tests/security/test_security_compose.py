"""What a hostile address book, settings file or template can do to a message: nothing.

- Header injection through every field that reaches a header (recipient name, title,
  organisation; sender name and organisation; incident text in the subject): the
  message keeps exactly its own header fields, To holds one address.
- No disclosure: a message names its own recipient only (no other address, name or
  key anywhere in it, nor in the Message-ID).
- Templates from an untrusted folder stay in the sandbox: no Python internals, no
  file read, and CPU or memory bombs end (time-bounded, in a child process).
- Path traversal through ``--template`` and ``--out``.
"""

from __future__ import annotations

import email.policy
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seckit import cli_in_process, notify_cli, write_config, write_rows

from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.compose import Composer, load_template
from notify.demo import demo_settings
from notify.errors import TemplateError
from notify.settings import SenderSettings

pytestmark = pytest.mark.security

HEADERS = {
    "date", "from", "to", "subject", "message-id", "mime-version", "content-language",
    "content-type", "content-transfer-encoding",
}  # fmt: skip
DATE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SUBJECT_ALL = (
    "{{ recipient.name }} {{ recipient.title }} {{ recipient.organization }} "
    "{{ sender.name }} {{ sender.organization }} {{ incident.nature }}"
)
INJECTIONS = [
    "x\r\nBcc: evil@attacker.example",
    "x\nCc: evil@attacker.example",
    "x\rTo: evil@attacker.example",
    "x\u2028Bcc: evil@attacker.example",
    "x\x00\r\n\r\n<html>body</html>",
    "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=",
    '"Dr" <evil@attacker.example>, other@attacker.example',
    "x\x85Bcc: evil@attacker.example",
    "x\r\n Bcc: evil@attacker.example",
    "\ufeffBcc: evil@attacker.example",
]
CHARS = st.characters(codec="utf-8") | st.sampled_from(
    ["\r", "\n", "\u2028", ":", ",", "<", ">", '"', "=", "?"]
)


def template_file(folder: Path, subject: str, text: str = "Bonjour {{ recipient.email }}") -> Path:
    """A template NAME.fr.j2 with the given subject and text blocks."""
    path = folder / "hostile.fr.j2"
    path.write_text(
        "{% block subject %}" + subject + "{% endblock %}\n"
        "{% block text %}" + text + "{% endblock %}\n",
        encoding="utf-8",
    )
    return path


def person(number: int, **fields: str) -> Recipient:
    """A recipient with an address of its own and hostile ``fields``."""
    cleaned = clean(f"patient{number:04d}@exemple.net")
    return Recipient(cleaned.email, cleaned.ascii_email, cleaned.key, **fields)


def check_headers(data: bytes, to: str) -> None:
    """Exactly our header fields, each once; To is ``to`` alone; no raw CR or LF."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    assert sep
    for line in head.split(b"\r\n"):
        assert b"\r" not in line
        assert b"\n" not in line
        assert b"\x00" not in line
        assert line[:1] in (b" ", b"\t") or b":" in line
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    names = [k.lower() for k in message]
    assert set(names) <= HEADERS, names
    assert len(names) == len(set(names)), names
    (to_field,) = message.get_all("To")
    assert [a.addr_spec for a in to_field.addresses] == [to]
    for name in ("cc", "bcc", "resent-to", "reply-to"):
        assert message.get_all(name) is None


@pytest.mark.parametrize("payload", INJECTIONS)
def test_no_field_of_the_address_book_or_settings_adds_a_header(
    tmp_path: Path, payload: str
) -> None:
    """Name, title, organisation of the contact, sender name and organisation and the
    incident text all reach the subject or From: the header block stays ours."""
    base = demo_settings(25)
    sender = SenderSettings(**{**base.sender.model_dump(), "name": payload,
                               "organization": payload})  # fmt: skip
    incident = base.incident.model_copy(update={"nature": payload})
    composer = Composer(load_template(template_file(tmp_path, SUBJECT_ALL)), incident, sender)
    recipient = person(1, name=payload, title=payload, organization=payload)
    composed = composer.compose(recipient, message_id=composer.message_id_for(recipient, "t"),
                                date=DATE)  # fmt: skip
    check_headers(composed.data, recipient.ascii_email)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(CHARS, max_size=60),
    title=st.text(CHARS, max_size=30),
    organization=st.text(CHARS, max_size=40),
)
def test_any_contact_text_keeps_the_header_block_ours(
    name: str, title: str, organization: str
) -> None:
    """Hypothesis: whatever the contact's name, title and organisation, the message
    parses with exactly our headers and To holds the one recipient."""
    composer = COMPOSER_ALL
    recipient = person(2, name=name, title=title, organization=organization)
    composed = composer.compose(recipient, message_id=composer.message_id_for(recipient, "t"),
                                date=DATE)  # fmt: skip
    check_headers(composed.data, recipient.ascii_email)


def _composer_all() -> Composer:
    base = demo_settings(25)
    with tempfile.TemporaryDirectory() as scratch:
        loaded = load_template(template_file(Path(scratch), SUBJECT_ALL))
    return Composer(loaded, base.incident, base.sender)


COMPOSER_ALL = _composer_all()


@pytest.mark.parametrize("template", ["colleague-warning", "patient-breach", "patient-phishing"])
def test_no_message_reveals_another_recipient(template: str) -> None:
    """Thirty recipients (some sharing an organisation): each message holds its own
    address only; no other address, name or identity key, in headers, Message-ID or
    body."""
    base = demo_settings(25)
    composer = Composer(load_template(template), base.incident, base.sender)
    people = [
        person(n, name=f"Nom{n:04d} Prenom{n:04d}", organization="Clinique du Lac",
               title="médecin" if n % 2 else "", language="en" if n % 3 == 0 else "fr")
        for n in range(30)
    ]  # fmt: skip
    for me in people:
        data = composer.compose(me, message_id=composer.message_id_for(me, "tok"), date=DATE).data
        check_headers(data, me.ascii_email)
        decoded = BytesParser(policy=email.policy.default).parsebytes(data)
        text = (
            "".join(str(part.get_content()) for part in decoded.walk() if not part.is_multipart())
            + str(decoded["Message-ID"])
            + data.decode("utf-8", "replace")
        )
        for other in people:
            if other is me:
                continue
            assert other.email not in text
            assert other.name not in text
            assert f"patient{other.email[7:11]}" not in str(decoded["Message-ID"])


# -- templates from an untrusted folder ---------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ recipient.__class__ }}",
    "{{ recipient.__init__.__globals__ }}",
    "{{ recipient|attr('__class__') }}",
    "{{ recipient|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(recipient) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '%s'|format(recipient.__class__) }}",
    "{{ sender.__class__.__base__ }}",
    "{{ sender.model_fields.name.annotation.mro() }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ dict.__subclasses__() }}",
    "{% set x = recipient.groups.append('owned') %}{{ recipient.groups }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/passwd' as p %}{{ p }}",
    "{% from '/etc/passwd' import x %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ range(10**9)|list }}",
    "{{ config }}{{ request }}{{ os }}",
]
LEAKS = ("<function", "<module", "<class", "__globals__", "root:", "owned", "subprocess")


@pytest.mark.parametrize("payload", ESCAPES)
def test_a_template_cannot_reach_python_internals(tmp_path: Path, payload: str) -> None:
    """Each escape attempt is a TemplateError naming the template, or renders text that
    shows no Python object, module, global or file."""
    try:
        template = load_template(template_file(tmp_path, "Alerte", payload))
        composer = Composer(template, demo_settings(25).incident, demo_settings(25).sender)
        text = composer.render(person(3, name="Jean")).text
    except TemplateError as exc:
        text = str(exc)
        assert "hostile.fr.j2" in text
    for leak in LEAKS:
        assert leak not in text


BOMB_CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
    from pathlib import Path
    from notify.addressbook.model import Recipient
    from notify.compose import Composer, load_template
    from notify.demo import demo_settings
    from notify.errors import TemplateError
    s = demo_settings(25)
    try:
        c = Composer(load_template(Path(sys.argv[1])), s.incident, s.sender)
        text = c.render(Recipient("a@exemple.fr", "a@exemple.fr", "a@exemple.fr")).text
        print("RENDERED", len(text))
    except TemplateError as exc:
        print("TEMPLATE-ERROR", str(exc)[:200])
    """
)


def render_in_child(path: Path, timeout: float) -> str:
    """Render ``path`` in a child (2 GB address space); its output, or TIMEOUT."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", BOMB_CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "TIMEOUT"
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "payload",
    ["{{ 'x' * 10**10 }}", "{{ '{:>3000000000}'.format('a') }}", "{{ 'ab' * 2**40 }}"],
    ids=["str-times", "format-width", "huge-repeat"],
)
def test_a_memory_bomb_in_a_template_ends_with_a_template_error(
    tmp_path: Path, payload: str
) -> None:
    """A template that asks for gigabytes: a TemplateError (under a 2 GB cap), no crash."""
    out = render_in_child(template_file(tmp_path, "Alerte", payload), timeout=30)
    assert out.startswith("TEMPLATE-ERROR"), out[-1500:]


def test_a_cpu_bomb_in_a_template_ends_within_seconds(tmp_path: Path) -> None:
    """Nested loops of 10^10 iterations: a TemplateError within 8 seconds."""
    bomb = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    out = render_in_child(template_file(tmp_path, "Alerte", bomb), timeout=8)
    assert out.startswith("TEMPLATE-ERROR"), out[-500:]


# -- path traversal -----------------------------------------------------------------------


def _book(folder: Path) -> Path:
    return write_rows(folder / "contacts.csv", [["jean@exemple.fr", "Jean", "Dupont", "", ""]])


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "../../../../../../etc/shadow", "colleague-warning/../x",
     "..", "templates/../../secret", "%2e%2e%2fetc%2fpasswd"],
)  # fmt: skip
def test_a_template_name_cannot_read_a_file_that_is_not_a_template(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--template`` with a path to a non-template file: exit 2, its content unseen."""
    write_config(tmp_path)
    secret = tmp_path.parent / "secret"
    secret.write_text("TOP-SECRET-CONTENT root:x:0:0\n")
    monkeypatch.chdir(tmp_path)
    code, output = cli_in_process("preview", "--template", name, str(_book(tmp_path)))
    assert code == 2, output
    assert "TOP-SECRET" not in output
    assert "root:x" not in output
    assert not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("out", ["/", "..", ".", "/etc", "../..", "/tmp", "~"])
def test_preview_out_never_replaces_a_folder_it_did_not_write(
    tmp_path: Path, out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out`` naming an existing folder notify did not write (or no folder name):
    exit 2, and the folder is untouched."""
    write_config(tmp_path)
    (tmp_path / "~").mkdir()
    (tmp_path / "~" / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    code, output = cli_in_process("preview", "--template", "colleague-warning",
                                  str(_book(tmp_path)), "--out", out)  # fmt: skip
    assert code == 2, output
    assert (tmp_path / "~" / "keep.txt").read_text() == "keep"


def test_preview_out_refuses_a_symbolic_link(tmp_path: Path) -> None:
    """``--out`` that is a symbolic link (to a folder elsewhere): refused, exit 2."""
    write_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "outbox").symlink_to(elsewhere)
    run = notify_cli(tmp_path, "preview", "--template", "colleague-warning",
                     str(_book(tmp_path)), "--out", "outbox")  # fmt: skip
    assert run.code == 2, run.text
    assert "symbolic link" in run.err
    assert list(elsewhere.iterdir()) == []
