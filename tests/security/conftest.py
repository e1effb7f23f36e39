"""The security suite: hostile input, secrets, TLS (run alone with ``-m security``).

Registers the ``chaos`` and ``security`` markers, as tests/chaos/conftest.py does.
"""

from __future__ import annotations

import pytest

MARKERS = (
    "chaos: faults against real local servers: soak, kills, full disk, signals (-m chaos)",
    "security: hostile input, secrets, TLS, sandbox (-m security)",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of the chaos and security suites."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
