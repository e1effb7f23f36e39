"""Shared fixtures. Each area keeps its own helpers in its own module (e.g. smtpfaults.py)."""

from smtpfaults import ca_file, server_tls, smtp_factory, tls_ca  # noqa: F401
