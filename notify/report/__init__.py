"""The incident record: one report model built from the journal, rendered in four formats.

Public API::

    build_report(journal, *, now=None) -> Report           # reads the journal only
    render_markdown(report) -> str                         # the default, for people
    render_html(report) -> str                             # self-contained, printable
    render_csv(report, *, excel=False) -> str              # one row per recipient
    render_json(report) -> str                             # everything: docs/report.schema.json
    reproduce(journal, record) -> Reproduction             # re-render one sent message
    find_sent(journal, address, campaign=None) -> RecipientRecord
    write_private(path, data)                              # 0600 file, 0700 folders

The report holds: the incident's GDPR art. 33(5) register entry (nature, categories
and number of persons and records, consequences, measures, when the breach was
discovered and when the controller became aware of it, the 72-hour CNIL deadline,
the CNIL and ARS/CERT Santé references); each campaign with its template, first and
last message and counts per state; a condensed timeline (counts per hour, plus
notable events: runs, pauses, manual marks, bounces); the people to reach by other
means (no address, secure network only, failed, bounced, uncertain) with their
phones and postal addresses, and for each person kept apart its identifier (``U3``,
what ``notify mark`` takes) and what was done (still to reach, informed by other
means, not informed by decision: state, note, who marked it and when); every
recipient (the CSV lists only these: see :mod:`notify.report.csvout`); the journal's
digest and whether its hash chain is intact. Nothing in it comes from the settings'
secrets: the journal holds none.
"""

from __future__ import annotations

from notify.report.build import build_report
from notify.report.csvout import render_csv
from notify.report.html import render_html
from notify.report.jsonout import SCHEMA_ID, render_json, report_dict
from notify.report.markdown import render_markdown
from notify.report.model import Report
from notify.report.output import write_private
from notify.report.reproduce import Reproduction, find_sent, reproduce

__all__ = [
    "SCHEMA_ID",
    "Report",
    "Reproduction",
    "build_report",
    "find_sent",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "report_dict",
    "reproduce",
    "write_private",
]
