"""What is sent is what the preview showed: byte for byte, but for the Date header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sendhelpers import (
    TEMPLATE,
    delivered,
    notify,
    send_args,
    split_server_lines,
    without_date,
    write_config,
    write_csv,
)

from notify.addressbook.addresses import clean
from notify.demo import example_sources
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration


def test_each_sent_message_is_the_preview_eml_but_for_the_date(tmp_path: Path) -> None:
    """`notify preview` then `notify send` on the example books (vCard, French Outlook
    CSV, Sent mbox) and a CSV: each message received equals its outbox .eml once the
    server's Return-Path/X-Envelope-To lines and the Date line are removed."""
    sources = [*example_sources(), write_csv(tmp_path / "more.csv", range(20))]
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, server.port)
        preview = notify(tmp_path, "preview", "--template", TEMPLATE, *map(str, sources))
        assert preview.code == 0, preview.text
        sent = notify(tmp_path, *send_args(*sources))
        assert sent.code == 0, sent.text
    manifest = json.loads((tmp_path / "outbox" / "manifest.json").read_text(encoding="utf-8"))
    by_id = {m["message_id"]: m for m in manifest["messages"]}
    items = delivered(tmp_path / "received")
    assert len(items) == len(by_id) == manifest["messages_count"] > 20
    seen = set()
    for item in items:
        entry = by_id[item.headers["Message-ID"]]
        eml = (tmp_path / "outbox" / entry["file"]).read_bytes()
        assert without_date(item.raw) == without_date(eml), entry["file"]
        assert item.envelope_to == clean(entry["recipient"]).ascii_email
        seen.add(item.headers["Message-ID"])
    assert seen == set(by_id)


def test_the_server_lines_are_removed_exactly() -> None:
    """split_server_lines removes exactly the two lines LocalServer adds in front."""
    stored = b"Return-Path: <a@b.fr>\r\nX-Envelope-To: c@d.fr\r\nDate: x\r\n\r\nbody\r\n"
    added, rest = split_server_lines(stored)
    assert added == {"Return-Path": "<a@b.fr>", "X-Envelope-To": "c@d.fr"}
    assert rest == b"Date: x\r\n\r\nbody\r\n"
