"""DeviceManager and Connection, end to end over the virtual radio.

Every test here drives the real bleak code path (``BleakScanner``/``BleakClient`` with
``backend=``) against bumble GATT servers on an in-memory link: the radio is the only
fake. Nothing sleeps; tests wait on the readings themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from telemedroom import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    ConsentError,
    DeviceConnectionError,
    DeviceNotFound,
    GlucoseContext,
    HeartRate,
    Measurement,
    OxygenSaturation,
    PairingError,
    RecordAccessError,
)
from telemedroom.devices import Connection, DeviceDriver, DeviceManager, DiscoveredDevice, ReconnectPolicy
from telemedroom.devices.gatt import record_access as racp
from telemedroom.testing import (
    BumbleBackend,
    Faults,
    VirtualBloodPressureCuff,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualPulseOximeter,
    VirtualThermometer,
    VirtualWeightScale,
)

AT = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
FAST = ReconnectPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


async def take(connection: Connection, count: int) -> list[Measurement]:
    readings: list[Measurement] = []
    async for reading in connection.measurements():
        readings.append(reading)
        if len(readings) == count:
            break
    return readings


def strip_device(readings: list[Measurement]) -> list[Measurement]:
    return [r.model_copy(update={"device": None}) for r in readings]


async def test_scan_finds_advertised_health_devices_with_their_driver(radio: BumbleBackend) -> None:
    await radio.add(VirtualBloodPressureCuff())
    await radio.add(VirtualGlucometer())
    async with DeviceManager(backend=radio) as dm:
        found = {}
        async with contextlib.aclosing(dm.scan(timeout=5)) as devices:
            async for device in devices:
                found[device.address] = device
                if len(found) == 2:
                    break
    cuff, meter = found["C0:FF:EE:00:00:01"], found["C0:FF:EE:00:00:06"]
    assert (cuff.name, cuff.health_services, cuff.rssi) == ("TM Cuff", ("blood_pressure",), -50)
    assert meter.health_services == ("glucose",)
    assert cuff.driver is not None
    assert cuff.driver.name == "standard"


async def test_scan_filters_by_service(radio: BumbleBackend) -> None:
    await radio.add(VirtualBloodPressureCuff())
    await radio.add(VirtualHeartRateStrap())
    dm = DeviceManager(backend=radio)
    async with dm, contextlib.aclosing(dm.scan(timeout=5, services=[0x180D])) as devices:
        first = await anext(devices)
    assert first.name == "TM Strap"


async def test_cuff_stream_end_to_end(radio: BumbleBackend) -> None:
    """advertise -> scan -> connect -> discover -> subscribe -> indication -> Measurement."""
    readings = [
        BloodPressure(systolic=152, diastolic=None, intermediate=True),
        BloodPressure(
            systolic=128, diastolic=82, mean_arterial=97.3, pulse_rate=64, measured_at=AT, user_index=1
        ),
    ]
    cuff = await radio.add(VirtualBloodPressureCuff(readings))
    async with DeviceManager(backend=radio) as dm, await dm.connect(cuff.address) as conn:
        received = await take(conn, 2)
        assert strip_device(received) == readings
        assert received[1].device is not None
        assert received[1].device.manufacturer == "Acme Medical"
        assert received[1].device.address == cuff.address
        assert conn.stats.received == 2
        assert conn.stats.malformed == 0
        assert await conn.battery_level() == 90
        info = await conn.device_info()
        assert (info.model, info.serial_number) == ("BP-7", "SN-0001")


@pytest.mark.parametrize(
    ("device_type", "readings"),
    [
        (
            VirtualPulseOximeter,
            [
                OxygenSaturation(spo2_percent=97, pulse_rate=65, measured_at=AT),
                OxygenSaturation(
                    spo2_percent=96, pulse_rate=66, continuous=True, spo2_fast_percent=96, pulse_rate_fast=67
                ),
            ],
        ),
        (
            VirtualThermometer,
            [BodyTemperature(value=36.4, intermediate=True), BodyTemperature(value=36.8, site="tympanum")],
        ),
        (VirtualWeightScale, [BodyWeight(value=72.4, height=1.78, bmi=22.9, measured_at=AT, user_index=1)]),
        (VirtualHeartRateStrap, [HeartRate(bpm=64, rr_intervals_s=(0.9375,), sensor_contact=True)]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_every_virtual_device_streams_through_the_manager(
    radio: BumbleBackend, device_type: type[VirtualBloodPressureCuff], readings: list[Measurement]
) -> None:
    device = await radio.add(device_type(readings))
    async with DeviceManager(backend=radio) as dm, await dm.connect(device.address) as conn:
        assert strip_device(await take(conn, len(readings))) == readings


async def test_malformed_indication_is_skipped_counted_and_logged(
    radio: BumbleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    readings = [BloodPressure(systolic=120 + i, diastolic=80) for i in range(3)]
    cuff = await radio.add(VirtualBloodPressureCuff(readings, faults=Faults(malformed_at=1)))
    async with DeviceManager(backend=radio) as dm, await dm.connect(cuff.address) as conn:
        with caplog.at_level(logging.WARNING, logger="telemedroom.devices"):
            received = await take(conn, 3)
        assert [r.systolic for r in received] == [120, 121, 122]  # the others go on
        assert conn.stats.malformed == 1
        assert conn.stats.received == 4
    [record] = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert "0079005000" in record.getMessage()  # the truncated value, in hex


async def test_reconnects_after_the_device_drops_and_loses_nothing(radio: BumbleBackend) -> None:
    readings = [HeartRate(bpm=60 + i) for i in range(5)]
    strap = await radio.add(VirtualHeartRateStrap(readings, faults=Faults(drop_after=2)))
    async with DeviceManager(backend=radio, reconnect=FAST) as dm, await dm.connect(strap.address) as conn:
        received = await take(conn, 5)
        assert [r.bpm for r in received] == [60, 61, 62, 63, 64]
        assert conn.stats.reconnects == 1


async def test_gives_up_with_a_typed_error_when_the_device_stays_away(radio: BumbleBackend) -> None:
    strap = await radio.add(
        VirtualHeartRateStrap([HeartRate(bpm=60), HeartRate(bpm=61)], faults=Faults(drop_after=1))
    )
    async with DeviceManager(backend=radio, reconnect=FAST) as dm, await dm.connect(strap.address) as conn:
        await strap.aclose()  # gone for good once it drops the link
        with pytest.raises(DeviceConnectionError) as info:
            await take(conn, 2)
    assert info.value.address == strap.address
    assert "gave up after 3 reconnect attempts" in info.value.reason
    assert isinstance(info.value.__cause__, DeviceConnectionError | DeviceNotFound)


async def test_unknown_address_is_device_not_found(radio: BumbleBackend) -> None:
    async with DeviceManager(backend=radio, timeout=0.3) as dm:
        with pytest.raises(DeviceNotFound) as info:
            await dm.connect("C0:FF:EE:99:99:99")
    assert info.value.address == "C0:FF:EE:99:99:99"


async def test_refused_pairing_is_a_pairing_error_with_the_cause(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer(faults=Faults(refuse_pairing=True)))
    async with DeviceManager(backend=radio) as dm:
        with pytest.raises(PairingError) as info:
            await dm.connect(meter.address)
    assert info.value.address == meter.address
    assert "pairing refused" in str(info.value)
    assert "PAIRING_NOT_SUPPORTED" in info.value.reason  # the SMP reason, from bumble through bleak
    assert info.value.__cause__ is not None  # bleak's error, itself chained to bumble's


def records(count: int, *, start: int = 1) -> list[BloodGlucose]:
    return [
        BloodGlucose(
            value=90 + n % 40,
            sequence_number=n,
            sample_type="capillary_plasma",
            sample_location="finger",
            measured_at=AT + timedelta(hours=n),
            context=GlucoseContext(meal="fasting") if n % 3 == 0 else None,
        )
        for n in range(start, start + count)
    ]


async def test_glucose_records_all_then_only_new_ones(radio: BumbleBackend) -> None:
    stored = records(6)
    meter = await radio.add(VirtualGlucometer(records=stored))
    async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
        assert await conn.glucose_record_count() == 6
        assert await conn.glucose_record_count(since=5) == 2
        fetched = await conn.glucose_records()
        assert strip_device(list(fetched)) == stored  # contexts joined by sequence number
        assert fetched[2].context == GlucoseContext(meal="fasting")
        assert [r.sequence_number for r in await conn.glucose_records(since=5)] == [5, 6]
        assert await conn.glucose_records(since=7) == []  # "no records found" is an empty answer
        assert conn.stats.records == 8


async def test_glucose_transfer_resumes_after_a_drop_without_loss_or_duplicates(radio: BumbleBackend) -> None:
    stored = records(20)
    meter = await radio.add(VirtualGlucometer(records=stored, faults=Faults(drop_after=7)))
    async with DeviceManager(backend=radio, reconnect=FAST) as dm, await dm.connect(meter.address) as conn:
        fetched = await conn.glucose_records()
        assert [r.sequence_number for r in fetched] == list(range(1, 21))
        assert strip_device(list(fetched)) == stored
        assert conn.stats.reconnects == 1
    # the second request asked only for what had not arrived
    [first, second] = meter.requests
    assert first.operand == ()
    assert second.operand[0] > 1


async def test_abort_returns_what_arrived_so_far(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer(records=records(200)))
    async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
        await conn.abort_glucose_transfer()  # nothing running: answered, and the answer is dropped
        fetched = await conn.glucose_records(since=199)
        assert [r.sequence_number for r in fetched] == [199, 200]


async def test_record_access_error_carries_the_response_code(radio: BumbleBackend) -> None:
    only_all = [racp.Operator.NULL, racp.Operator.ALL_RECORDS]
    meter = await radio.add(VirtualGlucometer(records=records(2), operators=only_all))
    async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
        assert len(await conn.glucose_records()) == 2
        with pytest.raises(RecordAccessError) as info:
            await conn.glucose_records(since=2)
    assert info.value.response_code == racp.ResponseCode.OPERATOR_NOT_SUPPORTED
    assert (info.value.request, info.value.response) == ("report_stored_records", "operator_not_supported")
    assert info.value.address == meter.address


async def test_set_time_and_clock_correction(radio: BumbleBackend) -> None:
    skew = timedelta(hours=3)
    now = datetime.now(UTC).replace(microsecond=0)
    cuff = await radio.add(
        VirtualBloodPressureCuff(
            [BloodPressure(systolic=120, diastolic=80, measured_at=now)], clock_offset=skew
        )
    )
    async with DeviceManager(backend=radio) as dm, await dm.connect(cuff.address) as conn:
        assert conn.clock_skew is not None
        assert abs(conn.clock_skew - skew) < timedelta(seconds=5)
        [reading] = await take(conn, 1)
        assert "device_clock_corrected" in reading.status
        assert reading.measured_at is not None
        assert abs(reading.measured_at - now) < timedelta(seconds=5)
        assert await conn.set_time() is True
        assert conn.clock_skew is not None
        assert abs(conn.clock_skew) < timedelta(seconds=5)
        assert abs(cuff.clock_offset) < timedelta(seconds=5)


async def test_device_clock_not_set_is_flagged(radio: BumbleBackend) -> None:
    scale = await radio.add(VirtualWeightScale([BodyWeight(value=70, measured_at=AT)], clock_set=False))
    async with DeviceManager(backend=radio) as dm, await dm.connect(scale.address) as conn:
        assert conn.clock_set is False
        [reading] = await take(conn, 1)
        assert reading.measured_at is None
        assert "device_clock_not_set" in reading.status


async def test_abort_mid_transfer_returns_the_records_so_far(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer(records=records(1000)))
    async with DeviceManager(backend=radio) as dm, await dm.connect(meter.address) as conn:
        transfer = asyncio.create_task(conn.glucose_records())
        await meter.wait_sent(20)
        await conn.abort_glucose_transfer()
        fetched = await transfer
        assert 0 < len(fetched) < 1000
        assert [r.sequence_number for r in fetched] == list(range(1, len(fetched) + 1))
        # the meter is ready for the next procedure
        assert await conn.glucose_record_count() == 1000


async def test_multi_user_scale_sends_after_consent_with_the_user_index(radio: BumbleBackend) -> None:
    readings = [BodyWeight(value=72.4, measured_at=AT), BodyWeight(value=72.6, measured_at=AT)]
    scale = await radio.add(VirtualWeightScale(readings, users={1: 1234, 2: 4321}))
    async with DeviceManager(backend=radio) as dm:
        found = await dm.find(scale.address)
        assert found.driver is not None
        assert found.driver.requires_pairing(found)  # it advertises the User Data Service
        async with await dm.connect(found) as conn:
            assert scale.sent == 0  # subscribed, but no user has consented
            with pytest.raises(ConsentError) as info:
                await conn.consent(2, 1111)
            assert (info.value.user_index, info.value.reason) == (2, "user_not_authorized")
            with pytest.raises(ConsentError, match="invalid_parameter"):
                await conn.consent(7, 1234)
            await conn.consent(2, 4321)
            received = await take(conn, 2)
    assert [(r.value, r.user_index) for r in received] == [(72.4, 2), (72.6, 2)]


async def test_consent_needs_a_user_control_point(radio: BumbleBackend) -> None:
    scale = await radio.add(VirtualWeightScale([BodyWeight(value=70)]))
    async with DeviceManager(backend=radio) as dm, await dm.connect(scale.address) as conn:
        with pytest.raises(DeviceConnectionError, match="no User Control Point"):
            await conn.consent(1, 1234)


class SilentGlucometer(VirtualGlucometer):
    """A faulty meter (still a real GATT server) that takes RACP requests and never answers."""

    async def _procedure_answer(self, value: bytes) -> None:
        return None


async def test_a_device_that_never_answers_times_out(radio: BumbleBackend) -> None:
    meter = await radio.add(SilentGlucometer(records=records(3)))
    async with DeviceManager(backend=radio, timeout=0.2) as dm, await dm.connect(meter.address) as conn:
        with pytest.raises(DeviceConnectionError) as info:
            await conn.glucose_record_count()
    assert "no answer within 0.2 s" in info.value.reason
    assert isinstance(info.value.__cause__, TimeoutError)


class NothingDriver(DeviceDriver):
    name = "nothing"

    def matches(self, device: DiscoveredDevice) -> bool:
        return False


async def test_a_device_no_driver_handles_is_refused(radio: BumbleBackend) -> None:
    cuff = await radio.add(VirtualBloodPressureCuff())
    async with DeviceManager(backend=radio, drivers=[NothingDriver()]) as dm:
        found = await dm.find(cuff.address)
        assert found.driver is None
        with pytest.raises(DeviceConnectionError, match="no driver handles this device"):
            await dm.connect(found)


async def test_driver_stream_yields_the_connection_readings(radio: BumbleBackend) -> None:
    strap = await radio.add(VirtualHeartRateStrap([HeartRate(bpm=71), HeartRate(bpm=72)]))
    async with DeviceManager(backend=radio) as dm, await dm.connect(strap.address) as conn:
        got = []
        async for reading in conn.driver.stream(conn):
            assert isinstance(reading, HeartRate)
            got.append(reading.bpm)
            if len(got) == 2:
                break
    assert got == [71, 72]


async def test_closing_the_connection_ends_the_stream(radio: BumbleBackend) -> None:
    strap = await radio.add(VirtualHeartRateStrap())
    async with DeviceManager(backend=radio) as dm:
        conn = await dm.connect(strap.address)
        await conn.aclose()
        assert [m async for m in conn.measurements()] == []
        assert not conn.is_connected


async def test_adapter_choice_reaches_the_backend(radio: BumbleBackend) -> None:
    """``adapter=`` becomes bleak's ``bluez={"adapter": ...}``; the virtual backend accepts and ignores it."""
    strap = await radio.add(VirtualHeartRateStrap([HeartRate(bpm=66)]))
    async with DeviceManager("hci1", backend=radio) as dm, await dm.connect(strap.address) as conn:
        [reading] = await take(conn, 1)
    assert isinstance(reading, HeartRate)
    assert reading.bpm == 66
    assert repr(strap) == "VirtualHeartRateStrap(name='TM Strap', address='C0:FF:EE:00:00:05', readings=1)"


heart_rates = st.builds(
    HeartRate,
    bpm=st.integers(0, 0xFFFF),
    rr_intervals_s=st.lists(st.integers(0, 0xFFFF).map(lambda k: k / 1024), max_size=3).map(tuple),
    energy_expended_kj=st.none() | st.integers(0, 0xFFFF),
    sensor_contact=st.none() | st.booleans(),
)


# Each example opens a radio and a connection (tens of milliseconds): a fixed, small budget.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(heart_rates, min_size=1, max_size=5))
async def test_any_readings_cross_the_whole_stack_unchanged(script: list[HeartRate]) -> None:
    async with BumbleBackend() as radio:
        strap = await radio.add(VirtualHeartRateStrap(script))
        async with DeviceManager(backend=radio) as dm, await dm.connect(strap.address) as conn:
            assert strip_device(await take(conn, len(script))) == script


@st.composite
def glucose_stores(draw: st.DrawFn) -> list[BloodGlucose]:
    numbers = sorted(draw(st.sets(st.integers(0, 0xFFFF), min_size=1, max_size=12)))
    meals = st.none() | st.sampled_from(["preprandial", "postprandial", "fasting", "casual", "bedtime"])
    stored = []
    for n in numbers:
        meal = draw(meals)
        stored.append(
            BloodGlucose(
                value=draw(st.integers(20, 600)),
                sequence_number=n,
                measured_at=AT + timedelta(minutes=draw(st.integers(0, 10**6))),
                context=None if meal is None else GlucoseContext(meal=meal),
            )
        )
    return stored


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(glucose_stores(), st.integers(1, 20))
# the drop comes right after the largest sequence number a glucometer can store
@example([BloodGlucose(value=100, sequence_number=0xFFFF, measured_at=AT)], 1)
async def test_any_record_store_survives_a_drop_anywhere(stored: list[BloodGlucose], drop_after: int) -> None:
    async with BumbleBackend() as radio:
        meter = await radio.add(VirtualGlucometer(records=stored, faults=Faults(drop_after=drop_after)))
        async with (
            DeviceManager(backend=radio, reconnect=FAST) as dm,
            await dm.connect(meter.address) as conn,
        ):
            assert strip_device(list(await conn.glucose_records())) == stored


async def test_a_connect_cancelled_half_way_leaves_no_link_open(radio: BumbleBackend) -> None:
    """Cancelled once the device sees the link (bleak still discovering services): the
    cancellation is honoured even where bleak swallows it, and the half-open link closes."""
    cuff = await radio.add(VirtualBloodPressureCuff([BloodPressure(systolic=120, diastolic=80)]))
    async with asyncio.timeout(10):  # the teardown must not hang on a half-open link
        async with DeviceManager(backend=radio) as dm:
            attempt = asyncio.ensure_future(dm.connect(cuff.address))
            await cuff.connected.wait()
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
            while cuff.connected.is_set():
                await asyncio.sleep(0.01)
