"""Shared fixtures. Each area keeps its own helpers in its own module (e.g. smtpfaults.py)."""
