"""Address books in, a clean list of recipients out.

Readers (one per format) turn a file into a stream of :class:`Entry` and
:class:`Problem`; :func:`notify.addressbook.merge.merge` validates, de-duplicates
and filters them into a :class:`ContactList`.
"""

from notify.addressbook.model import Entry, Origin, Problem, Recipient, SentMessage

__all__ = ["Entry", "Origin", "Problem", "Recipient", "SentMessage"]
