"""Deliver ready messages through the sending account (SMTP submission, asyncio).

Public API::

    account = account_from_settings(settings.smtp)          # ConfigError if unusable
    policy = Policy.from_settings(settings.sending, cap=quota_left_today,
                                  preset=preset_for(settings.smtp.provider))
    summary = await deliver(messages, account, policy, recorder, progress=callback)

- ``messages``: an iterable or async iterator of :class:`Outgoing`, one recipient each
  (``ref`` is the caller's id, echoed in every :class:`Attempt`).
- ``recorder``: any object with ``starting(batch)`` and ``finished(attempts)`` (see
  :class:`Recorder`): called synchronously right before and right after every
  transaction, so the journal commits "sending" and then the outcome.
- ``progress``: optional, called with each :class:`Attempt` after the recorder.

Outcomes (:class:`Attempt`): ``sent``; ``transient`` (retried with exponential
backoff and jitter until ``max_attempts``; ``final`` says when it gave up);
``permanent`` (5xx, recorded once); ``uncertain`` (the content went out, no reply
came: NOT resent in the same run unless ``Policy.retry_uncertain``, since the rule
is never to resend what may have been accepted; a later resend keeps the same
Message-ID); ``paused`` (stopped by a sending limit, an account failure or Ctrl-C
before the server took the message: back to pending, never a failure).

Errors: :class:`notify.errors.AccountError` (exit 3: authentication, TLS, sender
refused, server unreachable at the first connection or failing ``max_attempts``
times in a row) and :class:`notify.errors.QuotaPaused` (exit 4, ``resume_at`` when
known). ``deliver`` raises them after the transactions in flight have finished; no
recipient is marked failed by them. Reaching the cap is not an error:
``summary.cap_reached`` is set.

DSN (RFC 3461): when the server offers it, ``MAIL FROM ... RET=HDRS ENVID=<envid>``
and ``RCPT TO ... NOTIFY=FAILURE,DELAY ORCPT=rfc822;<rcpt>``. SMTPUTF8 is used when
the message or an address needs it; without server support the message is a
permanent failure with a clear text.
"""

from __future__ import annotations

from notify.deliver.account import (
    Account,
    account_from_settings,
    is_loopback,
    run_secret_command,
)
from notify.deliver.classify import Decision, classify_error, classify_reply, parse_queue_id
from notify.deliver.engine import deliver
from notify.deliver.model import (
    Attempt,
    DeliverySummary,
    Outcome,
    Outgoing,
    Policy,
    Recorder,
)
from notify.deliver.providers import PROVIDERS, Provider, get_provider, preset_for
from notify.deliver.queue import TokenBucket
from notify.deliver.session import xtext, xtext_decode

__all__ = [
    "PROVIDERS",
    "Account",
    "Attempt",
    "Decision",
    "DeliverySummary",
    "Outcome",
    "Outgoing",
    "Policy",
    "Provider",
    "Recorder",
    "TokenBucket",
    "account_from_settings",
    "classify_error",
    "classify_reply",
    "deliver",
    "get_provider",
    "is_loopback",
    "parse_queue_id",
    "preset_for",
    "run_secret_command",
    "xtext",
    "xtext_decode",
]
