"""notify: warn every correspondent or patient after a mailbox hijack or a data breach.

One personal message per recipient, sent through a different, trusted account,
with a per-recipient record for the incident file.
"""

__version__ = "0.1.0"
