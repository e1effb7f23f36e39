"""The chaos suite: faults against real local servers (run alone with ``-m chaos``).

Registers the ``chaos`` and ``security`` markers (pyproject.toml is not ours to
edit); tests/security/conftest.py registers them too, so that either folder can be
run alone under ``--strict-markers``.
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
