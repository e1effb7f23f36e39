"""The outbox of an import read from its store: every person listed, page after page."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from notify.addressbook.merge import MergeOptions, merge
from notify.addressbook.model import Entry, Origin
from notify.campaign import exposure_order
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_sender
from notify.preview import write_preview


def test_people_without_a_message_are_all_listed_in_order(tmp_path: Path) -> None:
    """1,200 without address and 600 on secure messaging: all in index.html and manifest."""
    items = [Entry(Origin("a.csv", 2), ["dr.x@example.org"], name="Dr X")]
    items += [Entry(Origin("a.csv", 3 + i), [], name=f"Nobody {i}") for i in range(1_200)]
    items += [
        Entry(Origin("b.csv", 2 + i), [f"s{i}@medecin.mssante.fr"], name=f"Secure {i}")
        for i in range(600)
    ]
    options = MergeOptions(secure_domains=("mssante.fr",))
    composer = Composer(load_template("colleague-warning"), sample_incident(), sample_sender())
    with merge(items, options) as contacts:
        write_preview(
            tmp_path / "out",
            composer,
            exposure_order(contacts.recipients),
            contacts,
            template="colleague-warning",
            campaign_token="test",
            date=datetime(2026, 11, 28, 10, 0, tzinfo=PARIS),
            summary_lines=["1 message"],
        )
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["name"] for p in manifest["unreachable"]] == [f"Nobody {i}" for i in range(1_200)]
    assert [p["recipient"] for p in manifest["secure_network"]] == [
        f"s{i}@medecin.mssante.fr" for i in range(600)
    ]
    assert [m["recipient"] for m in manifest["messages"]] == ["dr.x@example.org"]
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "<h3>No e-mail address: 1200</h3>" in page
    assert page.count("<td>Nobody ") == 1_200
    assert page.index("<td>Nobody 0</td>") < page.index("<td>Nobody 1199</td>")
    assert page.count("@medecin.mssante.fr</span>") == 600
    assert "None: everyone" not in page
