"""``telemedroom slots``: free slots from the room's SQLite schedule and its schedule.toml."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telemedroom.cli import ExitCode
from telemedroom.scheduling import Scheduler, SqliteStore, load_schedule

from .conftest import KEY

SCHEDULE = """\
[[resources]]
id = "nord-1"
kind = "room"
name = "Room Nord 1"
timezone = "Europe/Berlin"

[[resources.availability]]
rrule = "FREQ=DAILY"
starts = 2026-01-01
opens = 08:00:00
closes = 12:00:00

[[resources]]
id = "dr-weber"
kind = "practitioner"
name = "Dr. Weber"
qualifications = ["general"]

[[resources.availability]]
rrule = "FREQ=DAILY"
starts = 2026-01-01
opens = 08:00:00
closes = 12:00:00

[[services]]
id = "gp-60"
name = "General medicine consultation"
duration_minutes = 60
requires = [{ kind = "room" }, { kind = "practitioner", qualification = "general" }]
"""
ROW = re.compile(r"│ (\w{3} \d{4}-\d\d-\d\d) │ (\d\d:\d\d) │ (\d\d:\d\d) │ (.*?) *│")


@pytest.fixture
def schedule_toml(room_toml: Path) -> Path:
    path = room_toml.parent / "schedule.toml"
    path.write_text(SCHEDULE)
    (room_toml.parent / "data").mkdir()
    return path


def rows(out: str) -> list[tuple[str, ...]]:
    return [match.groups() for match in ROW.finditer(out)]


def test_free_slots_in_local_time(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    result = telemedroom("slots", "--config", str(room_toml), "--days", "3", "--limit", "50")
    assert result.code == ExitCode.OK, result.err
    found = rows(result.out)
    assert found, result.out
    for _day, start, end, who in found:  # four hours a day, one-hour consultations
        assert start in {"08:00", "09:00", "10:00", "11:00"}
        assert int(end[:2]) == int(start[:2]) + 1
        assert who == "Room Nord 1, Dr. Weber"
    assert f"{len(found)} free slot(s)" in result.out
    assert "times in Europe/Berlin" in result.out
    # 72 hours ahead: 12 slots at the same time of day (one more or less across a DST change)
    assert 11 <= len(found) <= 13


def test_a_booked_slot_is_not_offered(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    plan = load_schedule(schedule_toml)
    service = plan.services["gp-60"]

    async def book_the_first() -> datetime:
        async with SqliteStore(room_toml.parent / "data" / "schedule.sqlite") as store:
            scheduler = Scheduler(store, plan.resources)
            now = datetime.now(UTC)
            [slot] = await scheduler.find_slots(service, now, now + timedelta(days=3), limit=1)
            await scheduler.book(slot, "pat-1", idempotency_key="k1")
            return slot.start

    booked = asyncio.run(book_the_first()).astimezone(ZoneInfo("Europe/Berlin"))
    result = telemedroom("slots", "--config", str(room_toml), "--days", "3", "--limit", "50")
    assert result.code == ExitCode.OK, result.err
    starts = {(day, start) for day, start, _end, _who in rows(result.out)}
    assert (f"{booked:%a %Y-%m-%d}", f"{booked:%H:%M}") not in starts
    assert starts  # the others still are


def test_limit(telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path) -> None:
    result = telemedroom("slots", "--config", str(room_toml), "--limit", "2")
    assert len(rows(result.out)) == 2


def test_a_missing_config_file(telemedroom: Callable[..., object], tmp_path: Path) -> None:
    result = telemedroom("slots", "--config", str(tmp_path / "nope.toml"))
    assert result.code == ExitCode.CONFIG == 3
    assert f"room configuration {tmp_path / 'nope.toml'}: cannot read" in result.err


def test_a_missing_key_names_the_key_and_the_file(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    room_toml.write_text(
        "\n".join(line for line in room_toml.read_text().splitlines() if "encryption" not in line)
    )
    result = telemedroom("slots", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert f"room configuration {room_toml}: encryption_key: missing" in result.err
    assert "Traceback" not in result.err


def test_a_bad_schedule_key_names_the_key_and_the_file(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    schedule_toml.write_text(SCHEDULE.replace("duration_minutes = 60", 'duration_minutes = "an hour"'))
    result = telemedroom("slots", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert (
        f"{schedule_toml}: services[0].duration_minutes: 'an hour' is not a number of minutes" in result.err
    )


def test_a_missing_schedule_field(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    schedule_toml.write_text(SCHEDULE.replace("opens = 08:00:00\n", "", 1))
    result = telemedroom("slots", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert "resources[0].availability[0]: missing 1 required" in result.err
    assert "'opens'" in result.err


def test_an_unknown_service(telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path) -> None:
    result = telemedroom("slots", "--config", str(room_toml), "--service", "dentist")
    assert result.code == ExitCode.CONFIG
    assert "no service 'dentist' (the file has gp-60)" in result.err


def test_a_schedule_without_services(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path
) -> None:
    schedule_toml.write_text(SCHEDULE.split("[[services]]")[0])
    result = telemedroom("slots", "--config", str(room_toml))
    assert result.code == ExitCode.CONFIG
    assert "services: missing: at least one [[services]] table" in result.err


def test_an_explicit_schedule_file(
    telemedroom: Callable[..., object], room_toml: Path, schedule_toml: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    schedule_toml.rename(elsewhere)
    assert telemedroom("slots", "--config", str(room_toml)).code == ExitCode.CONFIG
    result = telemedroom("slots", "--config", str(room_toml), "--schedule", str(elsewhere), "--limit", "1")
    assert result.code == ExitCode.OK
    assert len(rows(result.out)) == 1


EXAMPLE = Path(__file__).parents[2] / "examples" / "kiosk_room" / "room.toml"


def test_the_kiosk_room_example(
    telemedroom: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/kiosk_room: the key and the data directory come from the environment."""
    result = telemedroom("slots", "--config", str(EXAMPLE))
    assert result.code == ExitCode.CONFIG
    assert f"room configuration {EXAMPLE}: encryption_key: missing" in result.err
    monkeypatch.setenv("TELEMEDROOM_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("TELEMEDROOM_DATA_DIR", str(tmp_path))
    result = telemedroom("slots", "--config", str(EXAMPLE), "--days", "14", "--limit", "5")
    assert result.code == ExitCode.OK, result.err
    found = rows(result.out)
    assert len(found) == 5
    assert {who for *_, who in found} == {"Telemedizin-Raum Nord 1, Dr. Weber"}
    assert {day[:3] for day, *_ in found} <= {"Mon", "Wed", "Fri"}  # Dr. Weber's days
