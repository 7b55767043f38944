"""Weeks at home on a simulated clock: the care plan, the devices' health, a full disk, a clock jump.

Readings come in through :meth:`Apartment.accept` (the listener's own path is tested
in ``test_listener.py`` on the bumble radio); time comes from a
:class:`~telemedroom.testing.SimulatedClock` moved by hand, five minutes at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.apartment.conftest import CARE_PLAN, SCALE, make_config

from telemedroom import BloodPressure, BodyWeight
from telemedroom.apartment import Apartment, ApartmentConfig
from telemedroom.errors import ApartmentConfigError, CarePlanError, StorageFullError
from telemedroom.fhir import FileSink
from telemedroom.testing import SimulatedClock

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


async def run_until(apartment: Apartment, clock: SimulatedClock, end: datetime, step: timedelta) -> None:
    while clock.now() < end:
        clock.advance(step)
        await apartment.check()


async def test_a_week_across_the_clock_change_raises_each_alert_once(tmp_path: Path) -> None:
    """Mon 19 to Mon 26 Oct 2026; summer time ends on Sunday the 25th (03:00 -> 02:00)."""
    clock = SimulatedClock(local(19, 6))
    config = make_config(tmp_path)
    weights = {19: 80.0, 20: 80.4, 21: 81.2, 22: 82.6, 23: 82.4, 25: 82.0}  # Saturday forgotten
    async with Apartment(config, clock=clock) as apartment:
        for day in range(19, 26):
            await run_until(apartment, clock, local(day, 7, 30), timedelta(minutes=5))
            if day in weights:
                assert await apartment.accept(
                    BodyWeight(value=weights[day], measured_at=clock.now()), device=SCALE
                )
            if day == 25:  # Sunday, the clocks went back at 03:00: 10:00 is still the deadline
                state = await apartment.state()
                assert state["today"] == [{"kind": "body_weight", "due": "10:00", "done": True}]
        await run_until(apartment, clock, local(26, 9), timedelta(minutes=5))
        alerts = apartment.monitor.alerts
        missed = [a for a in alerts if a.rule_id == "weight-morning"]
        assert [a.condition for a in missed] == ["body_weight@2026-10-24"]
        assert missed[0].raised_at == local(24, 10)  # 10:00 local on the day before the change
        (gain,) = [a for a in alerts if a.rule_id == "weight-gain"]
        assert gain.raised_at == local(22, 7, 30)
        assert gain.escalation_level == 1
        assert not [a for a in alerts if a.rule_type == "device"]
        drained = await apartment.outbox.drain(FileSink(tmp_path / "fhir"))
    observations = (tmp_path / "fhir" / "Observation.ndjson").read_text().splitlines()
    assert len(observations) == len(weights)
    assert drained.sent > len(weights)  # the readings and the alerts' Flag/Communication bundles


async def test_a_device_not_seen_for_days_raises_an_alert_until_it_is_back(tmp_path: Path) -> None:
    clock = SimulatedClock(local(2, 8, month=11))
    config = make_config(tmp_path, health={"not_seen_days": 2})
    async with Apartment(config, clock=clock) as apartment:
        await apartment.device_seen(SCALE, battery=80)
        await run_until(apartment, clock, local(4, 7, month=11), timedelta(minutes=30))
        assert "device.C0:FF:EE:00:00:04.seen" not in apartment._device_alerts
        await run_until(apartment, clock, local(4, 9, month=11), timedelta(minutes=30))
        alert = apartment._device_alerts["device.C0:FF:EE:00:00:04.seen"]
        assert alert.rule_id == "device-not-seen"
        assert "Waage" in alert.message
        state = await apartment.state()
        (scale,) = [d for d in state["devices"] if d["address"] == SCALE]
        assert scale["problems"] == ["device-not-seen"]
        await apartment.acknowledge(alert.id, by="Practitioner/nurse-schulz")
        await apartment.device_seen(SCALE, battery=79)
        assert "device.C0:FF:EE:00:00:04.seen" not in apartment._device_alerts
        kept = {a.id: a for a in await apartment.journal.alerts()}
    assert kept[alert.id].acknowledged_by == "Practitioner/nurse-schulz"
    assert kept[alert.id].cleared_at is not None


async def test_a_full_disk_refuses_new_readings_and_keeps_the_old_ones(tmp_path: Path) -> None:
    """Free space is read through ``disk_free``: a full file system cannot be made here
    without root, so the test tells the gateway how much is free (the only fake)."""
    free = [10**9]
    clock = SimulatedClock(local(2, 8, month=11))
    config = make_config(tmp_path, health={"min_free_mb": 50})

    def disk(_path: Path) -> int:
        return free[0]

    async with Apartment(config, clock=clock, disk_free=disk) as apartment:
        assert await apartment.accept(BloodPressure(systolic=130, diastolic=80, measured_at=clock.now()))
        free[0] = 10 * 10**6
        clock.advance(timedelta(minutes=5))
        with pytest.raises(StorageFullError) as refused:
            await apartment.accept(BloodPressure(systolic=190, diastolic=95, measured_at=clock.now()))
        assert refused.value.free == 10 * 10**6
        assert refused.value.needed == 50 * 10**6
        assert apartment.storage_full
        state = await apartment.state()
        assert state["gateway"] == ["storage-full"]
        assert await apartment.journal.count() == 1
        assert await apartment.outbox.pending() >= 1
        free[0] = 10**9
        await apartment.check()
        assert not apartment.storage_full
        assert await apartment.accept(BloodPressure(systolic=190, diastolic=95, measured_at=clock.now()))
        raised = [a.rule_id for a in apartment.monitor.alerts]
    assert raised == ["systolic"]


async def test_a_clock_jump_is_reported_and_floods_nothing(tmp_path: Path) -> None:
    clock = SimulatedClock(local(2, 8, month=11))
    config = make_config(tmp_path)
    async with Apartment(config, clock=clock) as apartment:
        await apartment.accept(BodyWeight(value=80.0, measured_at=clock.now()))
        await run_until(apartment, clock, local(2, 12, month=11), timedelta(minutes=5))
        clock.jump(timedelta(days=400))  # a dead RTC battery, then a wrong NTP answer
        clock.advance(timedelta(minutes=1))
        await apartment.check()
        (jump,) = [a for a in apartment._device_alerts.values() if a.rule_id == "gateway-clock"]
        assert "jumped ahead by 9600.0 h" in jump.message
        missed = [a for a in apartment.monitor.alerts if a.rule_id == "weight-morning"]
        assert missed == []  # 400 deadlines inside the jump are not raised
        clock.advance(timedelta(minutes=5))
        await apartment.check()
        assert not [a for a in apartment._device_alerts.values() if a.rule_id == "gateway-clock"]
        assert await apartment.journal.count() == 1  # retention counts from the newest reading


async def test_readings_and_alerts_survive_a_restart(tmp_path: Path) -> None:
    clock = SimulatedClock(local(2, 7, month=11))
    config = make_config(tmp_path)
    async with Apartment(config, clock=clock) as apartment:
        for day, kg in ((2, 80.0), (3, 81.0), (4, 82.5)):
            clock.advance(local(day, 7, month=11) - clock.now())
            await apartment.accept(BodyWeight(value=kg, measured_at=clock.now()))
        (gain,) = apartment.monitor.alerts
    async with Apartment(config, clock=clock) as again:
        assert [a.id for a in again.monitor.alerts] == [gain.id]
        # the same condition holds: no second alert; the history is there for the trend
        clock.advance(timedelta(hours=1))
        await again.accept(BodyWeight(value=82.7, measured_at=clock.now()))
        assert [a.id for a in again.monitor.alerts] == [gain.id]
        assert len(again.monitor.series("body_weight", "value")) == 4
        state = await again.state()
    (weight,) = state["readings"]
    assert (weight["text"], weight["trend"], weight["change"]) == ("82.7", "up", 2.7)


def test_the_configuration_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "apartment.toml"
    path.write_text('apartment_id = "a2"\npatient = "Bob"\ncare_plan = "p.toml"\n')
    with pytest.raises(ApartmentConfigError) as error:
        ApartmentConfig.from_toml(path)
    assert (error.value.key, error.value.source) == ("patient", str(path))
    path.write_text("apartment_id = \n")
    with pytest.raises(ApartmentConfigError, match="not valid TOML"):
        ApartmentConfig.from_toml(path)


async def test_a_care_plan_for_someone_else_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path, plan=CARE_PLAN.replace("heart-failure-4711", "someone-else"))
    with pytest.raises(ApartmentConfigError, match="the plan is for Patient/someone-else"):
        async with Apartment(config):
            pass


async def test_a_care_plan_error_names_the_rule(tmp_path: Path) -> None:
    config = make_config(tmp_path, plan=CARE_PLAN.replace("rise = 2.0", 'rise = "a lot"'))
    with pytest.raises(CarePlanError) as error:
        async with Apartment(config):
            pass
    assert error.value.key.startswith("rules.1(weight-gain)")
    assert error.value.source == str(tmp_path / "care-plan.toml")
