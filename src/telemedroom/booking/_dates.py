"""Dates and times as a resident reads them, in German and English, in the room's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["day_text", "time_text", "when_text"]

_DAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def day_text(day: date, language: str) -> str:
    """``Montag, 2. März 2026`` / ``Monday, 2 March 2026``.

    Examples:
        >>> from datetime import date
        >>> day_text(date(2026, 3, 2), "de"), day_text(date(2026, 3, 2), "en")
        ('Montag, 2. März 2026', 'Monday, 2 March 2026')
    """
    weekday, month = _DAYS[language][day.weekday()], _MONTHS[language][day.month - 1]
    if language == "de":
        return f"{weekday}, {day.day}. {month} {day.year}"
    return f"{weekday}, {day.day} {month} {day.year}"


def time_text(at: datetime, zone: ZoneInfo, language: str) -> str:
    """``09:20`` (24-hour in both languages: unambiguous on a booking page).

    Examples:
        >>> from datetime import UTC, datetime
        >>> from zoneinfo import ZoneInfo
        >>> time_text(datetime(2026, 3, 2, 8, 20, tzinfo=UTC), ZoneInfo("Europe/Berlin"), "en")
        '09:20'
    """
    return at.astimezone(zone).strftime("%H:%M")


def when_text(at: datetime, zone: ZoneInfo, language: str) -> str:
    """The day and the time: ``Montag, 2. März 2026, 09:20 Uhr`` / ``Monday, 2 March 2026, 09:20``.

    Examples:
        >>> from datetime import UTC, datetime
        >>> from zoneinfo import ZoneInfo
        >>> when_text(datetime(2026, 3, 2, 8, 20, tzinfo=UTC), ZoneInfo("Europe/Berlin"), "de")
        'Montag, 2. März 2026, 09:20 Uhr'
    """
    local = at.astimezone(zone)
    suffix = " Uhr" if language == "de" else ""
    return f"{day_text(local.date(), language)}, {time_text(at, zone, language)}{suffix}"
