"""Reading the resident's form: each field checked, each problem a typed error naming the field.

Nothing here logs or echoes a value: an error names the field and a reason code that
the page translates. Names are kept as typed (any script, any letters); they are escaped
where they are shown (the page, the e-mail) and quoted where they are a header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from telemedroom.booking._records import ResidentDetails
from telemedroom.errors import BookingInputError

__all__ = [
    "MAX_FIELD",
    "csrf_token",
    "csrf_valid",
    "kvnr_valid",
    "parse_birth_date",
    "parse_slot_value",
    "read_details",
]

MAX_FIELD = 100
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()/.-]{6,30}$")
_KVNR = re.compile(r"^[A-Z][0-9]{9}$")


def _clean(value: str, field: str, limit: int = MAX_FIELD) -> str:
    text = unicodedata.normalize("NFC", " ".join(value.split()))
    if len(text) > limit:
        raise BookingInputError(field, "too_long")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise BookingInputError(field, "invalid_characters")
    return text


def parse_birth_date(value: str, today: date) -> date:
    """A date of birth as ``YYYY-MM-DD`` (the date input) or ``DD.MM.YYYY`` (typed).

    Raises:
        BookingInputError: ``missing``, ``not_a_date``, ``in_future`` or ``too_old``.

    Examples:
        >>> from datetime import date
        >>> parse_birth_date("01.04.1950", date(2026, 3, 1)), parse_birth_date("1950-04-01", date(2026, 3, 1))
        (datetime.date(1950, 4, 1), datetime.date(1950, 4, 1))
        >>> parse_birth_date("31.02.1950", date(2026, 3, 1))
        Traceback (most recent call last):
        ...
        telemedroom.BookingInputError: booking form field birth_date: not_a_date
    """
    text = value.strip()
    if not text:
        raise BookingInputError("birth_date", "missing")
    if len(text) > 10:
        raise BookingInputError("birth_date", "not_a_date")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            born = date.fromisoformat(text)
        elif re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", text):
            day, month, year = (int(part) for part in text.split("."))
            born = date(year, month, day)
        else:
            raise BookingInputError("birth_date", "not_a_date")
    except ValueError:
        raise BookingInputError("birth_date", "not_a_date") from None
    if born > today:
        raise BookingInputError("birth_date", "in_future")
    if born.year < 1900:
        raise BookingInputError("birth_date", "too_old")
    return born


def kvnr_valid(number: str) -> bool:
    """Whether a statutory health insurance number (KVNR, unchangeable part) has a valid check digit.

    The letter becomes its two-digit position in the alphabet; the ten digits before the
    check digit are weighted 1, 2, 1, 2, …; the digit sums of the products are added
    and the check digit is that sum modulo 10 (GKV-Spitzenverband, Krankenversichertennummer).

    Examples:
        >>> kvnr_valid("A123456780"), kvnr_valid("A123456781"), kvnr_valid("1234567890")
        (True, False, False)
    """
    if not _KVNR.fullmatch(number):
        return False
    digits = f"{ord(number[0]) - ord('A') + 1:02d}{number[1:9]}"
    total = 0
    for index, digit in enumerate(digits):
        product = int(digit) * (1 if index % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10 == int(number[9])


def read_details(
    form: Mapping[str, str], fields: Sequence[str], today: date, language: str
) -> tuple[ResidentDetails | None, dict[str, str]]:
    """The details of a form, or ``None`` and every field's problem (field -> reason code).

    Only ``fields`` (the clinic's choice) beyond name and date of birth are read; others
    sent anyway are ignored, never stored.

    Examples:
        >>> from datetime import date
        >>> details, problems = read_details({"name": "  Erika  Mustermann ", "birth_date": "01.04.1950",
        ...     "email": "erika@example.org"}, ["email"], date(2026, 3, 1), "de")
        >>> details.name, problems
        ('Erika Mustermann', {})
        >>> read_details({"name": "", "birth_date": "x"}, ["email"], date(2026, 3, 1), "de")[1]
        {'name': 'missing', 'birth_date': 'not_a_date', 'email': 'contact_missing'}
    """
    problems: dict[str, str] = {}
    values: dict[str, str | None] = {}

    def attempt(field: str, read: object) -> None:
        try:
            values[field] = read() if callable(read) else None
        except BookingInputError as exc:
            problems[exc.field] = exc.reason

    def name() -> str:
        text = _clean(form.get("name", ""), "name")
        if not text:
            raise BookingInputError("name", "missing")
        return text

    def optional(field: str, pattern: re.Pattern[str], reason: str) -> str | None:
        text = _clean(form.get(field, ""), field, 254 if field == "email" else MAX_FIELD)
        if not text:
            return None
        if field == "insurance_number":
            text = text.replace(" ", "").upper()
            if not kvnr_valid(text):
                raise BookingInputError(field, reason)
            return text
        if not pattern.fullmatch(text) or (field == "phone" and sum(c.isdigit() for c in text) < 6):
            raise BookingInputError(field, reason)
        return text

    attempt("name", name)
    born: date | None = None
    try:
        born = parse_birth_date(form.get("birth_date", ""), today)
    except BookingInputError as exc:
        problems[exc.field] = exc.reason
    for field, pattern, reason in (
        ("phone", _PHONE, "not_a_phone"),
        ("email", _EMAIL, "not_an_email"),
        ("insurance_number", _KVNR, "not_an_insurance_number"),
    ):
        if field in fields:
            attempt(field, lambda f=field, p=pattern, r=reason: optional(f, p, r))
    contact_fields = [f for f in ("email", "phone") if f in fields]
    if not any(values.get(f) for f in contact_fields) and not any(f in problems for f in contact_fields):
        problems[contact_fields[0]] = "contact_missing"
    if problems or born is None:
        return None, problems
    return (
        ResidentDetails(
            name=str(values["name"]),
            birth_date=born,
            phone=values.get("phone"),
            email=values.get("email"),
            insurance_number=values.get("insurance_number"),
            language=language,
        ),
        {},
    )


def parse_slot_value(value: str) -> tuple[datetime, tuple[str, ...]]:
    """A slot button's value ``START|RESOURCE,RESOURCE`` (as the page writes it).

    Raises:
        BookingInputError: ``slot`` ``not_a_slot``.

    Examples:
        >>> parse_slot_value("2026-03-02T08:00:00+00:00|room-1,dr-a")
        (datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.timezone.utc), ('room-1', 'dr-a'))
    """
    start_text, _, ids = value.partition("|")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise BookingInputError("slot", "not_a_slot") from None
    resources = tuple(r for r in ids.split(",") if r)
    if start.utcoffset() is None or not resources or len(value) > 300:
        raise BookingInputError("slot", "not_a_slot")
    return start, resources


def csrf_token(secret: bytes, client: str) -> str:
    """The form token of a client (HMAC of its cookie): a page from another site cannot know it.

    Examples:
        >>> token = csrf_token(bytes(32), "c1")
        >>> csrf_valid(bytes(32), "c1", token), csrf_valid(bytes(32), "c2", token)
        (True, False)
    """
    mac = hmac.new(secret, f"csrf:{client}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_valid(secret: bytes, client: str, given: str) -> bool:
    """Whether ``given`` is the client's form token (constant time)."""
    return bool(client) and hmac.compare_digest(csrf_token(secret, client), given)
