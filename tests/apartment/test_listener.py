"""The listener takes every reading a paired device holds whenever it advertises, once.

Bluetooth is a :class:`~telemedroom.testing.BumbleBackend`: an in-memory radio of real
bumble controllers, with virtual devices serving the real GATT profiles (the cuff and the
scale queue readings taken while nobody listens; the glucometer answers RACP).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.apartment.conftest import CUFF, GLUCOMETER, OXIMETER, SCALE, make_config

from telemedroom import BloodGlucose, BloodPressure, BodyWeight, OxygenSaturation
from telemedroom.apartment import Apartment, ApartmentConfig
from telemedroom.apartment._listener import Listener
from telemedroom.devices.gatt import record_access as racp
from telemedroom.testing import (
    BumbleBackend,
    Faults,
    VirtualBloodPressureCuff,
    VirtualGlucometer,
    VirtualPulseOximeter,
    VirtualWeightScale,
)

AT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def glucose(n: int) -> BloodGlucose:
    return BloodGlucose(value=100 + n, sequence_number=n, measured_at=AT + timedelta(hours=n))


def devices() -> list:
    """A cuff and a scale that queued two readings each while nobody listened, and a glucometer."""
    return [
        VirtualBloodPressureCuff(
            [
                BloodPressure(systolic=132 + n, diastolic=84, measured_at=AT + timedelta(days=n))
                for n in range(2)
            ]
        ),
        VirtualWeightScale(
            [BodyWeight(value=81.0 + n / 2, measured_at=AT + timedelta(days=n)) for n in range(2)]
        ),
        VirtualGlucometer(records=[glucose(n) for n in (1, 2, 3)]),
    ]


async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Wait until ``condition`` holds, polling the event loop (readings arrive over the radio)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def listening(
    config: ApartmentConfig, radio: BumbleBackend
) -> AsyncIterator[tuple[Apartment, Listener]]:
    async with Apartment(config, ble_backend=radio) as apartment:
        listener = Listener(apartment, adapter_backoff=0.2)
        task = asyncio.create_task(listener.run())
        try:
            yield apartment, listener
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_every_queued_reading_is_taken_once_also_after_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with BumbleBackend() as radio:
        cuff, scale, meter = [await radio.add(d) for d in devices()]
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: cuff.finished.is_set() and scale.finished.is_set() and listener.sessions >= 3)
            await until(lambda: meter.requests != [])
            await until(lambda: listener.sessions >= 3)
            count = await apartment.journal.count()
            assert (await apartment.journal.device(GLUCOMETER)).last_sequence == 3
    assert count == 2 + 2 + 3
    # The same devices again (a real cuff sends its memory on every connection), a new
    # gateway process on the same data: nothing is taken twice; the glucometer is asked
    # only for records after #3, and a new one arrives.
    async with BumbleBackend() as radio:
        cuff, scale, meter = [await radio.add(d) for d in devices()]
        meter.records.append(glucose(4))
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: cuff.finished.is_set() and scale.finished.is_set())
            await until(lambda: any(r.operand == (4,) for r in meter.requests))
            await until(lambda: listener.sessions >= 3)
            assert await apartment.journal.count() == 2 + 2 + 4
            assert await apartment.outbox.pending() >= 8
            assert (await apartment.journal.device(GLUCOMETER)).last_sequence == 4
    asked = [r for r in meter.requests if r.op_code == racp.OpCode.REPORT_STORED_RECORDS]
    assert asked[0].operator == racp.Operator.GREATER_THAN_OR_EQUAL_TO


async def test_readings_taken_out_of_range_arrive_when_the_device_comes_back(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with BumbleBackend() as radio:
        scale = await radio.add(VirtualWeightScale([BodyWeight(value=80.0, measured_at=AT)]))
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: scale.finished.is_set() and listener.sessions >= 1)
            await scale.go_away()
            scale.measure(BodyWeight(value=80.6, measured_at=AT + timedelta(days=1)))
            scale.measure(BodyWeight(value=81.1, measured_at=AT + timedelta(days=2)))
            assert await apartment.journal.count() == 1
            await scale.come_back()
            await until(lambda: scale.finished.is_set() and len(scale.readings) == scale._next)
            await until(lambda: listener.sessions >= 2)
            weights = [r.measurement.value for r in await apartment.journal.readings()]  # type: ignore[attr-defined]
    assert weights == [80.0, 80.6, 81.1]


async def test_garbage_a_low_battery_and_a_wrong_clock_raise_device_alerts(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    oximeter = VirtualPulseOximeter(
        [OxygenSaturation(spo2_percent=95 + n, measured_at=AT + timedelta(minutes=n)) for n in range(3)],
        faults=Faults(malformed_at=1),
        battery_level=12,
        clock_offset=timedelta(hours=-2),
        tz=ZoneInfo("Europe/Berlin"),  # its clock keeps the apartment's local time, as set up
    )
    async with BumbleBackend() as radio:
        await radio.add(oximeter)
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: oximeter.finished.is_set() and listener.sessions >= 1)
            alerts = {a.rule_id: a for a in apartment._device_alerts.values()}
            state = await apartment.state()
            kept = await apartment.journal.count()
    assert set(alerts) == {"device-data", "battery-low", "device-clock"}
    assert "1 value(s) that do not follow its profile" in alerts["device-data"].message
    assert "12 %" in alerts["battery-low"].message
    assert "-120 min" in alerts["device-clock"].message
    assert abs(oximeter.clock_offset) < timedelta(minutes=1)  # the gateway set the device's clock
    assert all(a.rule_type == "device" for a in alerts.values())
    (device,) = [d for d in state["devices"] if d["address"] == OXIMETER]
    assert device["battery"] == 12
    assert device["problems"] == ["battery-low", "device-clock", "device-data"]
    assert kept == 3  # the garbage is skipped, the readings are kept


async def test_a_lost_bluetooth_adapter_is_an_alert_until_it_is_back(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with BumbleBackend() as radio:
        cuff = await radio.add(VirtualBloodPressureCuff())
        radio.unplug()
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: listener.adapter_failures >= 2)
            assert "gateway.bluetooth" in apartment._device_alerts
            radio.plug_in()
            cuff.measure(BloodPressure(systolic=128, diastolic=80, measured_at=AT))
            await until(lambda: cuff.finished.is_set() and listener.sessions >= 1)
            await until(lambda: "gateway.bluetooth" not in apartment._device_alerts)  # at the scan's end
            cleared = [a for a in await apartment.journal.alerts() if a.rule_id == "bluetooth-adapter"]
    assert len(cleared) == 1
    assert cleared[0].cleared_at is not None


@pytest.mark.parametrize("kind", ["cuff"])
async def test_only_paired_devices_are_listened_to(tmp_path: Path, kind: str) -> None:
    config = make_config(tmp_path, devices=[{"address": SCALE, "kind": "scale"}])
    async with BumbleBackend() as radio:
        cuff = await radio.add(
            VirtualBloodPressureCuff([BloodPressure(systolic=120, diastolic=80, measured_at=AT)])
        )
        scale = await radio.add(VirtualWeightScale([BodyWeight(value=80.0, measured_at=AT)]))
        async with listening(config, radio) as (apartment, listener):
            await until(lambda: scale.finished.is_set() and listener.sessions >= 1)
            assert not cuff.connected.is_set()
            assert cuff.sent == 0
            assert await apartment.journal.count() == 1
    assert CUFF not in {d.address for d in config.devices}
