"""The booking page over HTTP (in process): the flow, the e-mail from a real SMTP server, abuse, bad input."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from telemedroom.booking import KVNR_SYSTEM
from telemedroom.fhir import FhirClient
from telemedroom.testing import FakeFhirServer

from .conftest import (
    DETAILS,
    Booking,
    FakeClock,
    Mailbox,
    book,
    confirm,
    csrf_of,
    hold_first,
    make_config,
    open_app,
    slot_values,
)

SCRIPT_NAME = '<script>alert("x")</script> Mustermann'


def text_of(message: object, kind: str) -> str:
    part = message.get_body((kind,))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


async def test_a_resident_books_gets_the_email_and_cancels_with_its_link(booking: Booking) -> None:
    http, mailbox = booking.http, booking.mailbox
    assert mailbox is not None
    index = await http.get("/booking/", headers={"accept-language": "de-DE,de;q=0.9"})
    assert index.status_code == 200
    assert '<html lang="de">' in index.text
    assert "Allgemeinmedizinische Sprechstunde" in index.text
    assert "script-src" not in index.headers["content-security-policy"]  # no script at all
    assert "default-src 'none'" in index.headers["content-security-policy"]

    slots = await http.get("/booking/service/gp-20")
    assert "Montag, 2. März 2026" in slots.text
    assert ">09:00<" in slots.text  # 08:00 UTC in the room's local time
    assert "Europe/Berlin" in slots.text

    details_path = await hold_first(http)
    form = await http.get(details_path)
    assert "Wir halten diesen Termin bis 13:10 Uhr" in form.text  # now 13:00 Berlin + 10 min
    done = await confirm(http, details_path, name=SCRIPT_NAME)
    assert done.status_code == 303
    manage = await http.get(done.headers["location"])
    assert "Ihr Termin ist gebucht" in manage.text
    assert "erika@example.org" in manage.text  # "we sent a confirmation to ..."
    code = re.search(r'id="code">([A-Z0-9-]+)<', manage.text)
    assert code is not None
    assert '<svg role="img" aria-label="QR-Code mit Ihrem Buchungscode' in manage.text
    assert "<script>" not in manage.text

    recipients, message = await mailbox.next()
    assert recipients == ["erika@example.org"]
    assert message["To"].addresses[0].display_name == SCRIPT_NAME  # quoted, not header text
    assert message["To"].addresses[0].addr_spec == "erika@example.org"
    assert message["Subject"] == "Ihr Termin am Montag, 2. März 2026, 09:00 Uhr"
    plain, html = text_of(message, "plain"), text_of(message, "html")
    assert code.group(1) in plain
    assert SCRIPT_NAME in plain  # plain text shows it as typed
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    calendars = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    event = Calendar.from_ical(calendars[0].get_content()).walk("VEVENT")[0]
    assert code.group(1) in str(event["DESCRIPTION"])
    assert "Mustermann" not in str(calendars[0].get_content())  # no name in the calendar file
    link = re.search(r"http://127\.0\.0\.1:8020(/booking/manage/[\w-]+)", plain)
    assert link is not None

    # the link from the e-mail: ask, then cancel
    question = await http.get(f"{link.group(1)}/cancel")
    assert "wirklich absagen" in question.text
    cancelled = await http.post(f"{link.group(1)}/cancel", data={"csrf": csrf_of(question.text)})
    assert cancelled.status_code == 200
    assert "Ihr Termin ist abgesagt" in cancelled.text
    _, cancel_mail = await mailbox.next()
    assert cancel_mail["Subject"].endswith("ist abgesagt")
    # the slot is free again
    again = await http.get("/booking/service/gp-20")
    assert ">09:00<" in again.text
    # the cancelled appointment's link shows it, but offers nothing to change
    after = await http.get(link.group(1))
    assert 'id="inactive"' in after.text
    assert 'id="cancel"' not in after.text


async def test_reschedule_gives_a_new_code_and_keeps_the_link(booking: Booking) -> None:
    http, mailbox = booking.http, booking.mailbox
    assert mailbox is not None
    manage_path = await book(http)
    first = await http.get(manage_path)
    old_code = re.search(r'id="code">([A-Z0-9-]+)<', first.text)
    assert old_code is not None
    await mailbox.next()
    choose = await http.get(f"{manage_path}/reschedule?day=2026-03-03")
    assert "Dienstag, 3. März 2026" in choose.text
    values = slot_values(choose.text)
    moved = await http.post(
        f"{manage_path}/reschedule", data={"csrf": csrf_of(choose.text), "slot": values[1]}
    )
    assert moved.status_code == 303
    page = await http.get(moved.headers["location"])
    assert "Ihr Termin ist verschoben" in page.text
    assert "Dienstag, 3. März 2026, 09:30 Uhr" in page.text
    new_code = re.search(r'id="code">([A-Z0-9-]+)<', page.text)
    assert new_code is not None
    assert new_code.group(1) != old_code.group(1)
    _, mail = await mailbox.next()
    assert new_code.group(1) in text_of(mail, "plain")
    # the old appointment is cancelled, the new one booked, one resident record
    appointments = await booking.service.scheduler.store.appointments()
    assert sorted(a.status for a in appointments) == ["booked", "cancelled"]
    # the freed slot is offered again
    monday = await http.get("/booking/service/gp-20?day=2026-03-02")
    assert ">09:00<" in monday.text


async def test_the_hold_can_be_extended_and_a_lapsed_hold_still_books_a_free_slot(booking: Booking) -> None:
    http, clock = booking.http, booking.clock
    details_path = await hold_first(http)
    clock.advance(timedelta(minutes=8))
    page = await http.get(details_path)
    extended = await http.post(f"{details_path}/extend", data={"csrf": csrf_of(page.text)})
    assert extended.status_code == 303
    fresh = await http.get(extended.headers["location"])
    assert "Sie haben jetzt bis 13:18 Uhr Zeit." in fresh.text
    new_path = extended.headers["location"].split("?")[0]
    clock.advance(timedelta(minutes=30))  # lapsed: nobody took the slot, so it is still booked
    done = await confirm(http, new_path)
    assert done.status_code == 303


@pytest.mark.parametrize(
    "store_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.requires_system)]
)
async def test_two_residents_confirm_one_slot_exactly_one_wins(
    tmp_path: Path, clock: FakeClock, store_kind: str, request: pytest.FixtureRequest
) -> None:
    """Both holds lapsed, both residents confirm the same free time at once: the store lets one win."""
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
    config = make_config(tmp_path, schedule_store=url)
    async with open_app(config, clock, None) as booking:
        a, b = booking.client("10.0.0.1"), booking.client("10.0.0.2")
        async with a, b:
            first = await hold_first(a)
            clock.advance(timedelta(minutes=11))  # A's hold lapsed: B holds the same time
            second = await hold_first(b)
            clock.advance(timedelta(minutes=11))  # B's too: both now confirm the same free slot
            pages = [await a.get(first), await b.get(second)]
            answers = await asyncio.gather(
                *(
                    http.post(
                        path, data={"csrf": csrf_of(page.text), **DETAILS, "email": f"r{n}@example.org"}
                    )
                    for n, (http, path, page) in enumerate(zip((a, b), (first, second), pages, strict=True))
                )
            )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [303, 409]
        loser = next(r for r in answers if r.status_code == 409)
        assert "Hier sind die nächsten freien Zeiten" in loser.text
        assert "09:30" in loser.text  # the next free time is offered at once
        booked = [x for x in await booking.service.scheduler.store.appointments() if x.status == "booked"]
        assert len(booked) == 1


@pytest.mark.parametrize(
    "store_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.requires_system)]
)
async def test_many_residents_racing_for_one_time_never_double_book(
    tmp_path: Path, clock: FakeClock, store_kind: str, request: pytest.FixtureRequest
) -> None:
    """Ten residents hold the same first time at once: exactly one gets it, nine see the next times."""
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
    async with open_app(make_config(tmp_path, schedule_store=url), clock, None) as booking:
        clients = [booking.client(f"10.0.1.{n}") for n in range(10)]
        pages = [await c.get("/booking/service/gp-20") for c in clients]
        first = slot_values(pages[0].text)[0]
        answers = await asyncio.gather(
            *(
                c.post("/booking/hold", data={"csrf": csrf_of(p.text), "service": "gp-20", "slot": first})
                for c, p in zip(clients, pages, strict=True)
            )
        )
        for c in clients:
            await c.aclose()
        assert sorted(a.status_code for a in answers) == [303] + [409] * 9
        assert all("09:30" in a.text for a in answers if a.status_code == 409)
        assert len(await booking.service.scheduler.store.holds(now=clock())) == 1


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("birth_date", "31.02.1950", "Bitte als Datum angeben"),
        ("birth_date", "1950-13-01", "Bitte als Datum angeben"),
        ("birth_date", "gestern", "Bitte als Datum angeben"),
        ("birth_date", "01.01.2999", "in der Zukunft"),
        ("birth_date", "01.01.1850", "Bitte prüfen Sie das Jahr"),
        ("birth_date", "9" * 5000, "Bitte als Datum angeben"),
        ("name", "", "Bitte ausfüllen"),
        ("name", "x" * 101, "Zu lang"),
        ("name", "Erika\x00Mustermann", "Zeichen, die wir nicht speichern"),
        ("email", "not-an-address", "gültige E-Mail-Adresse"),
        ("email", "a@b.c\r\nBcc: everyone@example.org", "gültige E-Mail-Adresse"),
        ("insurance_number", "A123456781", "Ein Buchstabe und neun Ziffern"),
        ("consent", "", "Datenschutzhinweisen zu"),
    ],
)
async def test_bad_input_is_named_next_to_its_field(
    booking: Booking, field: str, value: str, reason: str
) -> None:
    details_path = await hold_first(booking.http)
    answer = await confirm(booking.http, details_path, **{field: value})
    assert answer.status_code == 400
    assert reason in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert "<script>" not in answer.text
    assert await booking.service.scheduler.store.appointments() == []


async def test_script_typed_into_a_field_comes_back_escaped(booking: Booking) -> None:
    details_path = await hold_first(booking.http)
    answer = await confirm(booking.http, details_path, name=SCRIPT_NAME, birth_date="bad")
    assert answer.status_code == 400
    assert "<script>" not in answer.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Mustermann" in answer.text


@pytest.mark.parametrize(
    "slot",
    [
        "",
        "garbage",
        "2026-03-02T08:00:00|room-1,dr-weber",  # no time zone
        "2026-03-02T08:00:00+00:00|room-1",  # too few resources
        "2026-03-02T08:00:00+00:00|dr-weber,room-1",  # the wrong way round
        "2026-03-02T08:00:00+00:00|room-1,room-1",
        "2026-03-02T08:07:00+00:00|room-1,dr-weber",  # off the grid: not open then? (still bookable?)
        "2026-03-07T08:00:00+00:00|room-1,dr-weber",  # a Saturday: closed
        "x" * 10_000,
    ],
)
async def test_a_malformed_or_impossible_slot_is_refused(booking: Booking, slot: str) -> None:
    page = await booking.http.get("/booking/service/gp-20")
    answer = await booking.http.post(
        "/booking/hold", data={"csrf": csrf_of(page.text), "service": "gp-20", "slot": slot}
    )
    assert answer.status_code in (303, 400, 409)
    if "08:07" not in slot:
        assert answer.status_code in (400, 409)


@pytest.mark.parametrize(
    "path",
    [
        "/booking/service/no-such-service",
        "/booking/service/gp-20?day=2026-02-30",
        "/booking/service/gp-20?day=" + "9" * 3000,
        "/booking/hold/not-a-hold",
        "/booking/hold/" + "x" * 500,
        "/booking/manage/not-a-token",
        "/booking/manage/" + "x" * 500,
        "/booking/manage/not-a-token/calendar.ics",
        "/booking/manage/not-a-token/reschedule",
    ],
)
async def test_bad_addresses_get_a_clear_page_not_a_crash(booking: Booking, path: str) -> None:
    answer = await booking.http.get(path)
    assert answer.status_code in (400, 404)
    assert "<h1>" in answer.text


async def test_every_form_needs_its_csrf_token_and_the_page_s_origin(booking: Booking) -> None:
    http = booking.http
    page = await http.get("/booking/service/gp-20")
    value = slot_values(page.text)[0]
    no_token = await http.post("/booking/hold", data={"service": "gp-20", "slot": value})
    assert no_token.status_code == 403
    async with booking.client("10.9.9.9") as other:
        foreign = await other.get("/booking/find")
        stolen = await http.post(
            "/booking/hold", data={"csrf": csrf_of(foreign.text), "service": "gp-20", "slot": value}
        )
    assert stolen.status_code == 403
    cross = await http.post(
        "/booking/hold",
        data={"csrf": csrf_of(page.text), "service": "gp-20", "slot": value},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    fresh = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=booking.app), base_url="http://127.0.0.1:8020"
    )
    async with fresh:  # no cookie at all
        assert (await fresh.post("/booking/hold", data={"csrf": csrf_of(page.text)})).status_code == 403
    assert await booking.service.scheduler.store.holds(now=booking.clock()) == []


async def test_the_honeypot_refuses_a_bot(booking: Booking) -> None:
    details_path = await hold_first(booking.http)
    answer = await confirm(booking.http, details_path, website="http://spam.example")
    assert answer.status_code == 400
    assert await booking.service.scheduler.store.appointments() == []


async def test_one_client_cannot_hold_every_slot(booking: Booking) -> None:
    http = booking.http
    await hold_first(http, index=0)
    await hold_first(http, index=1)
    page = await http.get("/booking/service/gp-20")
    third = await http.post(
        "/booking/hold",
        data={"csrf": csrf_of(page.text), "service": "gp-20", "slot": slot_values(page.text)[0]},
    )
    assert third.status_code == 429
    assert "zu viele Termine gleichzeitig" in third.text
    # another resident still sees and holds the other times
    async with booking.client("10.0.0.7") as other:
        assert (await hold_first(other)).startswith("/booking/hold/")
    # a hold is short: when it lapses, the client may hold again
    booking.clock.advance(timedelta(minutes=11))
    assert (await hold_first(http)).startswith("/booking/hold/")


async def test_one_contact_books_a_few_times_a_day_at_most(booking: Booking) -> None:
    for index in range(3):
        async with booking.client(f"10.0.2.{index}") as http:
            await book(http, index=index)
    async with booking.client("10.0.2.9") as http:
        answer = await confirm(http, await hold_first(http))
    assert answer.status_code == 429
    assert "retry-after" in answer.headers


async def test_too_many_requests_from_one_address_are_refused(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path, limits={"requests_per_minute": 3})
    async with open_app(config, clock, None) as booking:
        statuses = [(await booking.http.get("/booking/service/gp-20")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        clock.advance(timedelta(minutes=1))
        assert (await booking.http.get("/booking/service/gp-20")).status_code == 200


async def test_code_and_birth_date_find_the_appointment_and_codes_cannot_be_guessed(booking: Booking) -> None:
    http = booking.http
    manage_path = await book(http)
    code = re.search(r'id="code">([A-Z0-9-]+)<', (await http.get(manage_path)).text)
    assert code is not None
    async with booking.client("10.0.3.1") as stranger:
        form = await stranger.get("/booking/find")
        wrong_birth = await stranger.post(
            "/booking/find",
            data={"csrf": csrf_of(form.text), "code": code.group(1), "birth_date": "02.04.1950"},
        )
        unknown = await stranger.post(
            "/booking/find",
            data={"csrf": csrf_of(form.text), "code": "AAAA-AAAA", "birth_date": "01.04.1950"},
        )
        assert wrong_birth.status_code == unknown.status_code == 404
        assert wrong_birth.text.replace(code.group(1), "") == unknown.text.replace("AAAA-AAAA", "")
        found = await stranger.post(
            "/booking/find",
            data={
                "csrf": csrf_of(form.text),
                "code": code.group(1).lower().replace("-", " "),
                "birth_date": "1950-04-01",
            },
        )
        assert found.status_code == 303
        assert code.group(1) in (await stranger.get(found.headers["location"])).text
        # ten tries an hour from one address, then no more (no enumeration)
        answers = [
            await stranger.post(
                "/booking/find",
                data={"csrf": csrf_of(form.text), "code": f"AAAA-AAA{n}", "birth_date": "01.04.1950"},
            )
            for n in range(8)
        ]
    assert [a.status_code for a in answers][-1] == 429


async def test_retention_deletes_the_residents_details_and_their_links(booking: Booking) -> None:
    http, service = booking.http, booking.service
    manage_path = await book(http)
    appointment = (await service.scheduler.store.appointments())[0]
    assert (await service.records.get(appointment.id)).details is not None
    booking.clock.advance(timedelta(days=29))  # the appointment ended 28 days ago: kept
    assert await service.purge() == 0
    booking.clock.advance(timedelta(days=3))
    assert await service.purge() == 1
    record = await service.records.get(appointment.id)
    assert record.details is None
    assert record.consent_version == "1"  # the consent's version and time stay
    assert (await http.get(manage_path)).status_code == 404
    raw = (service.config.data_dir / "residents.sqlite").read_bytes()
    assert b"Erika" not in raw  # sealed at rest anyway; and nothing left after the purge
    actions = [action for _, action, _ in await service.records.accesses()]
    assert actions[0] == "booked"
    assert "purged" in actions


async def test_nothing_of_the_booking_reaches_the_logs(
    booking: Booking, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manage_path = await book(booking.http, name="Zacharias Quellenfeld", email="zq@example.org")
    page = await booking.http.get(manage_path)
    code = re.search(r'id="code">([A-Z0-9-]+)<', page.text)
    assert code is not None
    token = manage_path.rsplit("/", 1)[1]
    # every logger but the test's own SMTP server (mail.log) and HTTP client (httpx)
    ours = [r for r in caplog.records if not r.name.startswith(("mail.log", "httpx"))]
    assert len(caplog.records) > len(ours) > 0 or len(caplog.records) > 10  # the capture is live
    logged = "\n".join(record.getMessage() for record in ours)
    for secret in ("Zacharias", "Quellenfeld", "zq@example.org", "1950", code.group(1), token, "A123456780"):
        assert secret not in logged


async def test_the_fhir_server_gets_one_patient_by_kvnr_and_the_appointments(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The FHIR server is FakeFhirServer (a fake at an edge we cannot reach: real FHIR JSON, HAPI's rules)."""
    server = FakeFhirServer()
    fhir = FhirClient(server.base_url, transport=server.transport())
    async with fhir as client, open_app(make_config(tmp_path), clock, None, fhir_sink=client) as booking:
        first = await book(booking.http, index=0)
        async with booking.client("10.0.4.1") as again:
            await book(again, index=1, email="erika.2@example.org")
        await booking.service.deliver()
        patients = server.resources("Patient")
        assert len(patients) == 1  # the same KVNR: one Patient
        assert {"system": KVNR_SYSTEM, "value": "A123456780"} in [
            {k: i[k] for k in ("system", "value")} for i in patients[0]["identifier"]
        ]
        appointments = server.resources("Appointment")
        assert len(appointments) == 2
        refs = {p["actor"]["reference"] for a in appointments for p in a["participant"]}
        assert f"Patient/{patients[0]['id']}" in refs
        page = await booking.http.get(f"{first}/cancel")
        await booking.http.post(f"{first}/cancel", data={"csrf": csrf_of(page.text)})
        await booking.service.deliver()
        statuses = sorted(a["status"] for a in server.resources("Appointment"))
        assert statuses == ["booked", "cancelled"]


async def test_without_kvnr_the_patient_is_found_by_the_booking_identifier(
    tmp_path: Path, clock: FakeClock
) -> None:
    config = make_config(tmp_path, fields=["email"])
    async with open_app(config, clock, None) as booking:
        await book(booking.http, insurance_number="")
        await booking.service.deliver()
        lines = (config.data_dir / "fhir" / "Patient.ndjson").read_text().splitlines()
        assert len(lines) == 1
        assert '"system":"http://127.0.0.1:8020/sid/booking-patient"' in lines[0]
        assert "A123456780" not in lines[0]
        assert (config.data_dir / "fhir" / "Appointment.ndjson").exists()


async def test_only_the_fields_the_clinic_asks_for(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path, fields=["phone"])
    async with open_app(config, clock, None) as booking:
        details_path = await hold_first(booking.http)
        form = await booking.http.get(details_path)
        assert 'id="phone"' in form.text
        assert 'id="email"' not in form.text
        assert 'id="insurance_number"' not in form.text
        answer = await confirm(booking.http, details_path, phone="")
        assert "Bitte Telefon oder E-Mail angeben" in answer.text
        done = await confirm(booking.http, details_path, phone="+49 30 1234567")
        assert done.status_code == 303
        record = await booking.service.records.get(
            (await booking.service.scheduler.store.appointments())[0].id
        )
        assert record.details is not None
        assert (record.details.phone, record.details.email, record.details.insurance_number) == (
            "+49 30 1234567",
            None,
            None,
        )


async def test_the_sms_hook_gets_the_code_and_the_link(tmp_path: Path, clock: FakeClock) -> None:
    sent: list[tuple[str, str]] = []

    async def sms(phone: str, text: str) -> None:
        sent.append((phone, text))

    async with open_app(make_config(tmp_path), clock, None, sms=sms) as booking:
        await book(booking.http, phone="+49 170 1234567")
    assert len(sent) == 1
    assert sent[0][0] == "+49 170 1234567"
    assert "http://127.0.0.1:8020/booking/manage/" in sent[0][1]


async def test_the_language_follows_the_browser_and_the_switch(booking: Booking) -> None:
    http = booking.http
    english = await http.get("/booking/", headers={"accept-language": "en-GB,en;q=0.9,de;q=0.5"})
    assert '<html lang="en">' in english.text
    assert "Book an appointment" in english.text
    assert 'hreflang="de"' in english.text
    switched = await http.get("/booking/?lang=de", headers={"accept-language": "en"})
    assert '<html lang="de">' in switched.text
    kept = await http.get("/booking/privacy", headers={"accept-language": "en"})  # the cookie keeps it
    assert '<html lang="de">' in kept.text
    assert "Fassung 1" in kept.text
    assert "30 Tage nach dem Termin" in kept.text


async def test_the_email_failing_does_not_lose_the_booking(
    tmp_path: Path, clock: FakeClock, mailbox: Mailbox
) -> None:
    config = make_config(tmp_path, mailbox)
    config = config.model_copy(update={"smtp": config.smtp.model_copy(update={"port": 1})})  # type: ignore[union-attr]
    async with open_app(config, clock, None) as booking:
        manage_path = await hold_first(booking.http)
        done = await confirm(booking.http, manage_path)
        page = await booking.http.get(done.headers["location"])
        assert "konnte nicht verschickt werden" in page.text
        assert 'role="alert"' in page.text
        assert len(await booking.service.scheduler.store.appointments()) == 1
