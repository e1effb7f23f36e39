"""Composition: every message parses back to what was rendered, safely and reproducibly."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from notify.addressbook.model import Recipient, SentMessage
from notify.compose import Composed, Composer, TemplateSet, load_template, make_message_id
from notify.compose.samples import PARIS, sample_incident, sample_recipient, sample_sender
from notify.errors import ConfigError, TemplateError

DATE = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
PARSER = BytesParser(policy=policy.default)
BUILTINS = ("colleague-warning", "patient-breach", "patient-phishing")


def _composer(template: str = "colleague-warning", **sender: str) -> Composer:
    return Composer(
        load_template(template), sample_incident(), sample_sender().model_copy(update=sender)
    )


def _user_template(tmp_path: Path, body: str, name: str = "mine.fr.j2") -> TemplateSet:
    path = tmp_path / name
    path.write_text(
        "{% block subject %}Sujet{% endblock %}\n{% block text %}" + body + "{% endblock %}\n",
        encoding="utf-8",
    )
    return load_template(str(path))


def _compose(
    composer: Composer, recipient: Recipient, message_id: str = "<id1@exemple.org>"
) -> Composed:
    return composer.compose(recipient, message_id=message_id, date=DATE)


def _parse(composed: Composed) -> EmailMessage:
    return PARSER.parsebytes(composed.data)


def _recipients() -> list[Recipient]:
    base = sample_recipient(7)
    return [
        base,
        replace(base, language="en", civility="Mme", title="Pharmacienne"),
        replace(base, window_messages=[], title="", civility=""),
        replace(base, language="de", name="Ève Müller-Lefèvre", family_name="Müller"),
        replace(base, email="jean@médecins.fr", ascii_email="jean@xn--mdecins-bya.fr"),
    ]


def _check_conformance(composed: Composed) -> None:
    message = _parse(composed)
    assert not message.defects
    assert [a.addr_spec for a in message["to"].addresses] == [composed.to]
    for absent in ("cc", "bcc", "resent-to"):
        assert message[absent] is None
    assert str(message["subject"]) == composed.subject
    assert message["message-id"] == composed.message_id
    assert message["content-language"] == composed.language
    assert message["date"].datetime == DATE
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content().replace("\r\n", "\n") == composed.text
    if composed.html is not None:
        html = message.get_body(("html",))
        assert html is not None
        assert html.get_content().replace("\r\n", "\n") == composed.html
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", composed.data) is None
    assert all(len(line) <= 78 for line in composed.data.split(b"\r\n"))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_message_parses_back_to_what_was_rendered(name: str) -> None:
    """Headers decode to their values, parts to the rendered texts, lines stay short."""
    composer = _composer(name)
    for recipient in _recipients():
        _check_conformance(_compose(composer, recipient))


def test_same_inputs_give_the_same_bytes() -> None:
    """Template, variables, Message-ID and Date decide every byte."""
    first = _compose(_composer(), sample_recipient(1))
    again = _compose(_composer(), sample_recipient(1))
    assert first.data == again.data
    assert first.sha256 == again.sha256


def test_another_message_id_changes_the_boundary() -> None:
    """The MIME boundary comes from the Message-ID."""
    composer = _composer()
    one = _compose(composer, sample_recipient(1), "<a@exemple.org>")
    two = _compose(composer, sample_recipient(1), "<b@exemple.org>")
    boundary = re.compile(rb'boundary="([^"]+)"')
    assert boundary.search(one.data) != boundary.search(two.data)


def test_from_and_reply_to_come_from_the_sender_settings() -> None:
    """From is the sender; Reply-To appears only when set."""
    plain = _parse(_compose(_composer(), sample_recipient(1)))
    assert plain["from"].addresses[0].addr_spec == "secours.martin@exemple.org"
    assert plain["from"].addresses[0].display_name == "Dr Claire Martin"
    assert plain["reply-to"] is None
    replied = _parse(_compose(_composer(reply_to="cabinet@exemple.org"), sample_recipient(1)))
    assert replied["reply-to"].addresses[0].addr_spec == "cabinet@exemple.org"


def test_international_domain_is_idna_encoded() -> None:
    """The To domain is written in IDNA form; no SMTPUTF8 needed."""
    recipient = replace(sample_recipient(1), email="a@médecins.fr", ascii_email="a@médecins.fr")
    composed = _compose(_composer(), recipient)
    assert composed.to == "a@xn--mdecins-bya.fr"
    assert not composed.needs_smtputf8


def test_non_ascii_local_part_is_flagged_smtputf8() -> None:
    """A non-ASCII local part can only be sent with SMTPUTF8: the result says so."""
    recipient = replace(
        sample_recipient(1), email="élise@exemple.fr", ascii_email="élise@exemple.fr"
    )
    composed = _compose(_composer(), recipient)
    assert composed.needs_smtputf8
    assert any("SMTPUTF8" in w for w in composed.warnings)
    message = PARSER.parsebytes(composed.data, headersonly=True)
    assert "élise@exemple.fr" in composed.data.decode("utf-8")
    assert message["cc"] is None


@pytest.mark.parametrize(
    "field", ["name", "given_name", "family_name", "civility", "title", "organization"]
)
def test_recipient_fields_cannot_inject_headers(field: str) -> None:
    """CR, LF, NUL or U+2028 in any recipient field add no header and no recipient."""
    evil = "Jean\r\nBcc: victim@evil.example\r\n\r\nbody\x00\u2028Cc: x@evil.example"
    changes: dict[str, Any] = {field: evil}
    recipient = replace(sample_recipient(1), **changes)
    composed = _compose(_composer("patient-breach"), recipient)
    _check_conformance(composed)
    head = composed.data.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"^(Bcc|Cc):", head, re.MULTILINE | re.IGNORECASE) is None


@pytest.mark.parametrize("field", ["name", "organization", "profession"])
def test_sender_fields_cannot_inject_headers(field: str) -> None:
    """The sender's name, organisation and profession (in the subject) are safe too."""
    composer = _composer("patient-breach", **{field: "X\r\nBcc: victim@evil.example\nY"})
    composed = _compose(composer, sample_recipient(1))
    _check_conformance(composed)
    message = _parse(composed)
    assert sorted(message.keys()) == sorted(
        ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
         "Content-Language", "Content-Type"]
    )  # fmt: skip


def test_recipient_language_is_used_when_a_template_exists() -> None:
    """English recipients get the English template, others the default (French)."""
    composer = _composer()
    assert _compose(composer, replace(sample_recipient(1), language="en-GB")).language == "en"
    german = _compose(composer, replace(sample_recipient(1), language="de"))
    assert german.language == "fr"
    assert any("'de'" in w for w in german.warnings)


def test_configured_default_language_applies() -> None:
    """With no recipient language, the configured default is used."""
    composer = Composer(
        load_template("colleague-warning"), sample_incident(), sample_sender(), "en"
    )
    assert _compose(composer, replace(sample_recipient(1), language="")).language == "en"


def test_window_messages_are_quoted_and_escaped_in_html() -> None:
    """The fraudulent subjects are quoted; in HTML they are escaped, never markup."""
    message = SentMessage(datetime(2026, 11, 26, 9, 5, tzinfo=PARIS), "Facture <b>urgente</b>")
    composed = _compose(_composer(), replace(sample_recipient(1), window_messages=[message]))
    quoted = "«\u00a0Facture <b>urgente</b>\u00a0», le 26 novembre 2026 à 09\u00a0h\u00a005"
    assert quoted in composed.text
    assert composed.html is not None
    assert "Facture &lt;b&gt;urgente&lt;/b&gt;" in composed.html


def test_recipients_reading_different_values_get_different_texts() -> None:
    """The render cache never gives one recipient's text to another."""
    composer = _composer()
    peer = _compose(composer, replace(sample_recipient(1), civility="Mme"))
    other = _compose(composer, replace(sample_recipient(2), civility="Mme", title="Pharmacien"))
    alone = _compose(composer, replace(sample_recipient(3), civility="Mme", window_messages=[]))
    assert peer.text.startswith("Chère consœur,")
    assert other.text.startswith("Madame, Monsieur,")
    assert "Facture impayée" in peer.text
    assert "Facture impayée" not in alone.text


@pytest.mark.parametrize(
    "body",
    ["{{ recipient.name }}", "{% set r = recipient %}{{ r.name }}", "{{ recipient|attr('name') }}"],
)
def test_each_recipient_gets_their_own_name(tmp_path: Path, body: str) -> None:
    """Cached or not, a template that prints the name prints each recipient's own."""
    composer = Composer(_user_template(tmp_path, body), sample_incident(), sample_sender())
    names = [_compose(composer, replace(sample_recipient(i), name=f"N{i}")).text for i in range(3)]
    assert names == ["N0\n", "N1\n", "N2\n"]


def test_undefined_variable_names_template_line_and_recipient(tmp_path: Path) -> None:
    """A missing variable is an error naming the template file, the line and the recipient."""
    template = _user_template(tmp_path, "Bonjour,\n\n{{ recipient.nickname }}\n")
    composer = Composer(template, sample_incident(), sample_sender())
    with pytest.raises(TemplateError) as caught:
        _compose(composer, sample_recipient(1))
    error = caught.value
    assert (error.template, error.line, error.recipient) == (
        "mine.fr.j2",
        4,
        "correspondant1@exemple-sante.fr",
    )
    assert "nickname" in str(error)
    assert "template mine.fr.j2, line 4; recipient correspondant1@exemple-sante.fr" in str(error)


def test_unset_incident_date_is_an_error_not_a_blank() -> None:
    """A template needing window_start fails clearly when the incident has none."""
    incident = sample_incident().model_copy(update={"window_start": None})
    composer = Composer(load_template("colleague-warning"), incident, sample_sender())
    with pytest.raises(TemplateError, match="window_start"):
        _compose(composer, sample_recipient(1))


def test_empty_required_setting_is_an_error() -> None:
    """An empty compromised address stops the run instead of sending a blank."""
    incident = sample_incident().model_copy(update={"compromised_address": ""})
    composer = Composer(load_template("colleague-warning"), incident, sample_sender())
    with pytest.raises(TemplateError, match=r"incident\.compromised_address is empty"):
        _compose(composer, sample_recipient(1))


def test_printing_none_is_an_error(tmp_path: Path) -> None:
    """A None value never prints as "None"."""
    composer = Composer(
        _user_template(tmp_path, "{{ incident.window_end }}"),
        sample_incident().model_copy(update={"window_end": None}),
        sample_sender(),
    )
    with pytest.raises(TemplateError, match="not set"):
        _compose(composer, sample_recipient(1))


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ recipient.__init__.__globals__ }}",
        "{{ sender.__class__.__init__.__globals__ }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ recipient.groups.append('x') }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ (recipient|attr('__class__')) }}",
        "{{ '{0.__class__}'.format(recipient) }}",
    ],
)
def test_sandbox_escapes_are_template_errors(tmp_path: Path, body: str) -> None:
    """Reaching Python internals from a template is refused as a TemplateError."""
    composer = Composer(_user_template(tmp_path, body), sample_incident(), sample_sender())
    with pytest.raises(TemplateError):
        _compose(composer, sample_recipient(1))


def test_text_is_wrapped_and_html_escaped(tmp_path: Path) -> None:
    """Long text lines wrap at 72 with list indents; HTML values are escaped."""
    path = tmp_path / "mine.fr.j2"
    path.write_text(
        "{% block subject %}S{% endblock %}{% block text %}  - "
        + "mot " * 30
        + "{% endblock %}{% block html %}<p>{{ recipient.organization }}</p>{% endblock %}",
        encoding="utf-8",
    )
    recipient = replace(sample_recipient(1), organization="<script>x</script>")
    composed = _compose(
        Composer(load_template(str(path)), sample_incident(), sample_sender()), recipient
    )
    lines = composed.text.splitlines()
    assert all(len(line) <= 72 for line in lines)
    assert lines[1].startswith("    mot")
    assert composed.html == "<p>&lt;script&gt;x&lt;/script&gt;</p>\n"


def test_missing_sender_address_is_a_configuration_error() -> None:
    """Without a sender address nothing can be composed: say which setting to fill."""
    with pytest.raises(ConfigError, match=r"sender\.address is not set"):
        Composer(
            load_template("colleague-warning"),
            sample_incident(),
            sample_sender().model_copy(update={"address": ""}),
        )


def test_compose_all_streams_with_deterministic_message_ids() -> None:
    """compose_all yields one message per recipient, ids from make_message_id."""
    recipients = [sample_recipient(i) for i in range(3)]
    messages = list(_composer().compose_all(recipients, campaign_token="c1", date=DATE))
    assert [m.message_id for m in messages] == [
        make_message_id("c1", r.key, "exemple.org") for r in recipients
    ]
    assert [m.to for m in messages] == [r.email for r in recipients]


def test_when_filter_writes_dates_in_the_message_language(tmp_path: Path) -> None:
    """The 'when' filter writes a datetime in French ("1er", "h") or English."""
    incident = sample_incident().model_copy(
        update={"aware_at": datetime(2026, 12, 1, 9, 5, tzinfo=PARIS)}
    )
    body = "{{ incident.aware_at | when }}"
    french = Composer(_user_template(tmp_path, body), incident, sample_sender())
    english = Composer(_user_template(tmp_path, body, "mine.en.j2"), incident, sample_sender())
    recipient = sample_recipient(1)
    assert _compose(french, recipient).text == "1er décembre 2026 à 09\u00a0h\u00a005\n"
    assert _compose(english, recipient).text == "1 December 2026 at 09:05\n"
