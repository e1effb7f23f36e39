"""The outbox's index.html renders in a real (headless) browser, with no script needed."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from notify.addressbook.merge import MergeOptions
from notify.addressbook.sources import SourceOptions, load_contacts
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_sender
from notify.preview import write_preview
from notify.settings import DEFAULT_SECURE_DOMAINS

EXAMPLES = Path(__file__).resolve().parent.parent / "contacts"
OWNER = "dr.martin@cabinet-martin.example.org"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    """The path of a Chromium-like browser, or skip the test saying why."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)})")


def png_facts(png: bytes) -> tuple[int, int, int]:
    """Width, height, and how many distinct byte values its image data holds.

    A blank page compresses to image data of a handful of byte values (filter bytes
    and one colour); a page with text and tables uses nearly all 256.
    """
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    data, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    return width, height, len(set(zlib.decompress(data)))


@pytest.mark.slow
def test_index_renders_to_a_screenshot_that_is_not_blank(tmp_path: Path) -> None:
    """Chromium draws index.html of the example books: a PNG with text, not a blank page."""
    chromium = browser()
    sources = [EXAMPLES / n for n in ("correspondants.vcf", "outlook-fr.csv", "envoyes.mbox")]
    merging = MergeOptions(owner_addresses=(OWNER,), secure_domains=DEFAULT_SECURE_DOMAINS)
    result = load_contacts(sources, SourceOptions(owner=OWNER), merging)
    composer = Composer(load_template("colleague-warning"), sample_incident(), sample_sender())
    write_preview(
        tmp_path / "outbox",
        composer,
        result.contacts.recipients,
        result.contacts,
        template="colleague-warning",
        campaign_token="browser",
        date=datetime(2026, 11, 28, 10, 0, tzinfo=PARIS),
        summary_lines=["9 messages at 30 a minute: about 1 minute"],
    )
    shot = tmp_path / "index.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1280,1800", (tmp_path / "outbox" / "index.html").as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    assert shot.is_file(), "the browser wrote no screenshot"
    width, height, distinct = png_facts(shot.read_bytes())
    assert (width, height) == (1280, 1800)
    assert distinct > 64, "the screenshot is blank"
