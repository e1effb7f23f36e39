"""Presets for the mail providers French health professionals commonly use.

A preset fills the SMTP host, port, security and the default sending limits; any
value set explicitly in ``[smtp]`` or ``[sending]`` wins over the preset.

Sources and confidence. The limits are the figures providers publish or that are
widely reported; providers change them without notice and count differently
(messages, recipients, rolling 24 hours or calendar day). Figures marked
"uncertain" are conservative guesses: better a slower run than a locked account on
the day of the incident. One message has one recipient in notify, so a
recipients-per-day limit is a messages-per-day limit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from notify.errors import ConfigError

Security = Literal["tls", "starttls", "none"]
AuthHint = Literal["password", "app-password", "oauth2"]


@dataclass(frozen=True)
class Provider:
    """One preset: where to submit mail and how much the account may send."""

    name: str
    label: str
    host: str
    port: int
    security: Security
    auth: tuple[AuthHint, ...]
    per_minute: int | None
    per_day: int | None
    notes: str = ""


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="gmail",
            label="Gmail / Google Workspace",
            # Google, "Set up Gmail with Outlook/other clients" (smtp.gmail.com, 465 SSL
            # or 587 STARTTLS).
            host="smtp.gmail.com",
            port=465,
            security="tls",
            # Google stopped plain passwords ("less secure apps") in 2024-2025; an app
            # password (needs 2-step verification) or OAuth2 is required.
            auth=("app-password", "oauth2"),
            # Google Workspace Admin Help, "Gmail sending limits": about 500 recipients a
            # day for consumer accounts, 2,000 a day for Workspace (rolling 24 h).
            per_day=500,
            # Google publishes no per-minute figure: uncertain, conservative.
            per_minute=20,
            notes="Workspace accounts may raise per_day to 2000.",
        ),
        Provider(
            name="outlook",
            label="Outlook.com / Microsoft 365",
            # Microsoft Learn, "POP, IMAP, and SMTP settings": smtp.office365.com, 587,
            # STARTTLS (Outlook.com also answers on smtp-mail.outlook.com).
            host="smtp.office365.com",
            port=587,
            security="starttls",
            # Microsoft is retiring Basic authentication for SMTP AUTH; OAuth2 (XOAUTH2)
            # is the durable choice. Dates of the retirement moved several times:
            # uncertain.
            auth=("oauth2", "password"),
            # Exchange Online limits (Microsoft Learn, "Exchange Online limits"): 30
            # messages a minute, 10,000 recipients a day for Microsoft 365.
            per_minute=30,
            # Outlook.com consumer accounts: around 300 recipients a day is widely
            # reported (Microsoft does not publish an exact figure): uncertain.
            per_day=300,
            notes="Microsoft 365 business accounts may raise per_day (10,000 a day).",
        ),
        Provider(
            name="yahoo",
            label="Yahoo Mail",
            # Yahoo Help, "IMAP server settings": smtp.mail.yahoo.com, 465 SSL.
            host="smtp.mail.yahoo.com",
            port=465,
            security="tls",
            auth=("app-password",),
            # Yahoo does not publish submission limits; around 500 a day is commonly
            # reported: uncertain.
            per_day=500,
            per_minute=20,  # uncertain, conservative
        ),
        Provider(
            name="orange",
            label="Orange (orange.fr, wanadoo.fr)",
            # Assistance Orange, "paramétrer un logiciel de messagerie": smtp.orange.fr,
            # 465 SSL, authentication required.
            host="smtp.orange.fr",
            port=465,
            security="tls",
            auth=("password",),
            # Orange does not publish a figure; it throttles bursts and parallel
            # connections (421 OFR004_104 "too many connections"). Uncertain.
            per_day=200,
            per_minute=10,
        ),
        Provider(
            name="free",
            label="Free (free.fr)",
            # Assistance Free, "configurer un logiciel de messagerie": smtp.free.fr,
            # 465 SSL (587 STARTTLS also offered).
            host="smtp.free.fr",
            port=465,
            security="tls",
            auth=("password",),
            per_day=200,  # uncertain, conservative: Free publishes no figure
            per_minute=10,  # uncertain
        ),
        Provider(
            name="sfr",
            label="SFR (sfr.fr, neuf.fr)",
            # Assistance SFR, "paramètres SMTP": smtp.sfr.fr, 465 SSL.
            host="smtp.sfr.fr",
            port=465,
            security="tls",
            auth=("password",),
            per_day=200,  # uncertain, conservative: SFR publishes no figure
            per_minute=10,  # uncertain
        ),
        Provider(
            name="ovh",
            label="OVHcloud (MX Plan, E-mail Pro)",
            # OVHcloud guides, "configurer son adresse e-mail": ssl0.ovh.net, 465 SSL
            # (E-mail Pro and Exchange use other hosts: set smtp.host).
            host="ssl0.ovh.net",
            port=465,
            security="tls",
            auth=("password",),
            # OVHcloud documents an anti-spam cap of about 200 messages an hour per
            # MX Plan address (reported; uncertain).
            per_minute=3,
            per_day=1000,  # uncertain
        ),
        Provider(
            name="laposte",
            label="La Poste (laposte.net)",
            # Aide laposte.net, "paramètres SMTP": smtp.laposte.net, 465 SSL.
            host="smtp.laposte.net",
            port=465,
            security="tls",
            auth=("password",),
            per_day=200,  # uncertain, conservative: no published figure
            per_minute=10,  # uncertain
        ),
        Provider(
            name="ionos",
            label="IONOS (1&1)",
            # IONOS Help, "server information for e-mail": smtp.ionos.fr, 465 SSL
            # (587 STARTTLS also offered).
            host="smtp.ionos.fr",
            port=465,
            security="tls",
            auth=("password",),
            # IONOS documents per-hour sending limits that depend on the contract;
            # uncertain, conservative.
            per_minute=10,
            per_day=500,
        ),
        Provider(
            name="custom",
            label="Any other SMTP submission server",
            host="",
            port=587,
            security="starttls",
            auth=("password", "oauth2"),
            per_minute=None,
            per_day=None,
            notes="Set smtp.host (and port, security) yourself.",
        ),
    )
}


def get_provider(name: str) -> Provider:
    """Return the preset called ``name`` (case-insensitive); ConfigError when unknown."""
    key = (name or "custom").strip().lower()
    try:
        return PROVIDERS[key]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(
            f"unknown mail provider {name!r}",
            hint=f"Set smtp.provider to one of: {known} (custom: give smtp.host yourself).",
        ) from None


def preset_for(name: str) -> Provider | None:
    """The preset called ``name`` (case-insensitive), or None when there is none."""
    return PROVIDERS.get((name or "custom").strip().lower())
