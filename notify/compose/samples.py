"""Sample data: what ``lint`` renders templates with, and what the benchmark uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from notify.addressbook.model import Recipient, SentMessage
from notify.settings import IncidentSettings, SenderSettings

PARIS = timezone(timedelta(hours=1))


def sample_incident() -> IncidentSettings:
    """A plausible incident with every field a built-in template reads."""
    return IncidentSettings(
        kind="mailbox-hijack",
        compromised_address="dr.martin@exemple.fr",
        window_start=datetime(2026, 11, 26, 8, 0, tzinfo=PARIS),
        window_end=datetime(2026, 11, 27, 18, 0, tzinfo=PARIS),
        aware_at=datetime(2026, 11, 27, 9, 15, tzinfo=PARIS),
        nature="a third party used the practice's mailbox password to read and send mail.",
        consequences="you may receive messages or calls that quote your name and appointments.",
        measures="the password was changed and the mailbox checked by our IT provider.",
        data_categories="names, contact details and appointment dates",
    )


def sample_sender() -> SenderSettings:
    """A plausible sending account."""
    return SenderSettings(
        address="secours.martin@exemple.org",
        name="Dr Claire Martin",
        profession="médecin généraliste",
        phone="+33 4 00 00 00 00",
        organization="Cabinet du Dr Martin",
        dpo="Jeanne Roux, dpo@exemple.org",
    )


def sample_recipient(number: int = 0, *, language: str = "fr") -> Recipient:
    """A plausible correspondent (a doctor who received one fraudulent message)."""
    email = f"correspondant{number}@exemple-sante.fr"
    return Recipient(
        email=email,
        ascii_email=email,
        key=email,
        name=f"Jean Dupont-Durand {number}",
        given_name="Jean",
        family_name="Dupont-Durand",
        civility="M.",
        title="Cardiologue",
        organization="Clinique du Parc",
        language=language,
        window_messages=[
            SentMessage(
                datetime(2026, 11, 26, 9, 42, tzinfo=PARIS), "Facture impayée : règlement urgent"
            )
        ],
    )
