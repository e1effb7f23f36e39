"""Composing the messages of a sending pass in a child process, on another core.

Composition (reading the journal's pages, rendering the templates, building the MIME
bytes) is about a quarter of the CPU time of ``notify send``. With ``[sending]
compose_process`` (see :func:`notify.sending.send_campaign`) a child process,
``python -m notify.compose_process.child``, does it beside the parent, which only
sends and journals.

The protocol (:mod:`.protocol`), on the child's stdin and stdout (pipes; nothing but
the module name on its command line):

- the parent writes a :class:`~.protocol.Job`: the journal's path, the campaign, and
  the exact inputs of its :class:`~notify.compose.Composer` (template sources,
  incident and sender settings; nothing secret: the child needs no password). It is
  a pickle, not JSON: the settings' datetimes keep their very time-zone objects, so
  the child's composer is the parent's to the byte (``tzname()`` differs after a
  JSON round trip);
- the child opens the journal read-only (a WAL reader never blocks the writer),
  builds the composer, and answers with a ``ready`` frame (or an ``error`` one);
- the parent writes the rank to start after (a JSON line), or closes stdin when it
  does not need the child after all;
- the child pages through :meth:`~notify.journal.Journal.to_send` as the in-process
  path does, composes each record with :func:`~.protocol.compose_record` (the
  function the in-process path calls), and writes one ``message`` frame per record:
  the values the journal records before sending (recipient id, envelope recipient,
  Message-ID, ``Date:`` text, SHA-256, SMTPUTF8 flag), then the bytes; then a
  ``done`` frame. A composition error is an ``error`` frame: the parent raises the
  same NotifyError class with the same text, as if it had composed the message.

The pipe bounds memory: the child blocks when the parent is behind. The child
(:mod:`.child`) ignores SIGINT and runs in its own process group (a terminal's Ctrl-C
is for the parent to handle); the parent (:class:`.parent.ComposeProcess`) kills and
reaps it when the pass ends, stops early or fails. A child that dies or writes
something unreadable is a :class:`~notify.errors.JournalError` in the parent (exit
3): the messages it had not handed over are still pending, nothing is marked failed,
and the same command resumes.

This package imports nothing itself: the child does not load asyncio.
"""
