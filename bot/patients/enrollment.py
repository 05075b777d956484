"""Enrolling a patient: the record, a one-time Telegram code and a personal web chat link.

`interlude patient enroll` calls this (and the portal will). Codes and tokens are random,
shown once, and stored only as hashes (see PatientRepo.issue_enrollment_code / issue_web_token).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Settings
from bot.patients.store import PatientRepo
from bot.staff.store import StaffRepo
from bot.store.errors import StoreError

LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
MAX_NAME_CHARS = 200


class EnrollmentError(StoreError):
    """Enrollment input was refused; the message says what to fix."""


@dataclass(frozen=True)
class Links:
    """What a patient needs to reach Interlude, shown once."""

    patient_id: str
    enrollment_code: str
    telegram_link: str | None
    web_chat_url: str
    code_expires_in_days: int
    web_link_expires_in_days: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def validate_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise EnrollmentError(
            f"Unknown time zone {tz!r}; use an IANA name such as Europe/London or America/New_York."
        ) from None
    return tz


def validate_locale(locale: str) -> str:
    if not LOCALE_RE.match(locale):
        raise EnrollmentError(f"Locale {locale!r} should look like en-US or en-GB.")
    return locale


def telegram_bot_username(settings: Settings) -> str | None:
    """The patients' bot's @username, for deep links: configured, or asked of the Bot API."""
    if settings.telegram_bot_username:
        return settings.telegram_bot_username
    if not settings.telegram_token:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    async def ask() -> str | None:
        bot = Bot(settings.telegram_token, base_url=f"{settings.telegram_api_url}/bot")
        async with bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except (TelegramError, OSError):
        return None


def telegram_link(username: str | None, code: str) -> str | None:
    return f"https://t.me/{username}?start={code}" if username else None


def issue_links(patients: PatientRepo, settings: Settings, ref: str, *, actor: str, origin: str) -> Links:
    """A new enrollment code and a new web chat link for an existing patient (the old link stops)."""
    code = patients.issue_enrollment_code(
        ref, ttl=timedelta(days=settings.enrollment_code_days), actor=actor, origin=origin
    )
    token = patients.issue_web_token(
        ref, ttl=timedelta(days=settings.web_token_days), actor=actor, origin=origin
    )
    return Links(
        patient_id=ref,
        enrollment_code=code,
        telegram_link=telegram_link(telegram_bot_username(settings), code),
        web_chat_url=settings.web_chat_url(token),
        code_expires_in_days=settings.enrollment_code_days,
        web_link_expires_in_days=settings.web_token_days,
    )


def enroll_patient(
    patients: PatientRepo,
    staff: StaffRepo,
    settings: Settings,
    *,
    therapist_email: str,
    name: str,
    timezone: str = "UTC",
    locale: str | None = None,
    actor: str,
    origin: str,
) -> Links:
    """Create a patient under a therapist and issue their links. Nothing is created on bad input."""
    name = name.strip()
    if not name:
        raise EnrollmentError("The patient's name is empty.")
    if len(name) > MAX_NAME_CHARS:
        raise EnrollmentError(f"The patient's name is limited to {MAX_NAME_CHARS} characters.")
    validate_timezone(timezone)
    if not locale:
        # No locale given: crisis numbers follow the patient's time zone, else the clinic's country.
        from bot.safety.resources import locale_for

        locale = locale_for(timezone, settings.clinic_country, settings.default_locale)
    validate_locale(locale)
    therapist = staff.staff_by_email(therapist_email)
    if therapist is None:
        raise EnrollmentError(f"No staff account with e-mail {therapist_email}.")
    patient = patients.create_patient(
        clinic_id=therapist.clinic_id,
        therapist_id=therapist.id,
        display_name=name,
        timezone=timezone,
        locale=locale,
        actor=actor,
    )
    return issue_links(patients, settings, patient.ref, actor=actor, origin=origin)
