"""A closed session leaves no socket behind, even over TLS and right before the loop ends.

Closing a TLS transport gracefully waits for the server's close_notify: when the event
loop ends first (``asyncio.run`` returning right after the last message), the socket is
never closed and Python warns about it later. After QUIT there is nothing left to
protect, so notify aborts the transport and lets the loop close the socket at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from smtpfaults import PASSWORD, ServerFactory, account_for

from notify.deliver.session import close_session, open_session


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_close_session_closes_the_socket_before_returning(
    smtp_factory: ServerFactory,
    ca_file: Path,
    security: str,
) -> None:
    """Once close_session returns, the socket under the TLS layer is closed."""
    server = await smtp_factory(security=security)
    account = account_for(server, ca_file)
    for _ in range(3):
        smtp = await open_session(account, account.tls_context(), PASSWORD)
        assert smtp.transport is not None
        raw = smtp.transport.get_extra_info("socket")
        assert raw.fileno() != -1
        await close_session(smtp)
        assert raw.fileno() == -1
        assert not smtp.is_connected


async def test_close_session_after_the_server_went_away_never_raises(
    smtp_factory: ServerFactory,
    ca_file: Path,
) -> None:
    """A session whose server has stopped is closed without an error, socket included."""
    server = await smtp_factory(security="starttls")
    account = account_for(server, ca_file)
    smtp = await open_session(account, account.tls_context(), PASSWORD)
    assert smtp.transport is not None
    raw = smtp.transport.get_extra_info("socket")
    await server.stop()
    await asyncio.sleep(0.05)
    await close_session(smtp)
    assert raw.fileno() == -1
