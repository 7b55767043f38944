"""The virtual devices themselves: scripts, clocks, faults and the glucometer's RACP rules.

The glucometer is driven with plain bleak over the virtual radio (the radio is the only
fake) so its answers can be checked byte for byte.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bleak import BleakClient

from telemedroom import BloodGlucose, BodyTemperature, HeartRate
from telemedroom.devices import gatt
from telemedroom.devices.gatt import record_access as racp
from telemedroom.testing import (
    BumbleBackend,
    Faults,
    VirtualGlucometer,
    VirtualHeartRateStrap,
    VirtualThermometer,
)

RACP = "00002a52-0000-1000-8000-00805f9b34fb"
GLUCOSE = "00002a18-0000-1000-8000-00805f9b34fb"
CONTEXT = "00002a34-0000-1000-8000-00805f9b34fb"
CURRENT_TIME = "00002a2b-0000-1000-8000-00805f9b34fb"


def test_stamp_follows_the_device_clock() -> None:
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    ahead = VirtualThermometer(clock_offset=timedelta(minutes=7))
    assert ahead.stamp(BodyTemperature(value=36.6, measured_at=at)).measured_at == at + timedelta(minutes=7)
    unset = VirtualThermometer(clock_set=False)
    stamped = unset.stamp(BodyTemperature(value=36.6, measured_at=at))
    assert (stamped.measured_at, stamped.status) == (None, frozenset({"device_clock_not_set"}))
    assert unset.now() is None


async def test_send_without_a_central_sends_nothing(radio: BumbleBackend) -> None:
    strap = await radio.add(VirtualHeartRateStrap())
    assert await strap.send(HeartRate(bpm=70)) is False
    assert strap.sent == 0


async def test_scripted_readings_wait_for_subscription_then_play_in_order(radio: BumbleBackend) -> None:
    strap = await radio.add(VirtualHeartRateStrap([HeartRate(bpm=60), HeartRate(bpm=61)], interval=0.001))
    received: asyncio.Queue[bytes] = asyncio.Queue()
    async with BleakClient(strap.address, backend=radio.client_backend, timeout=5) as client:
        await strap.connected.wait()
        assert strap.sent == 0  # nothing before the CCCD is written
        await client.start_notify(
            "00002a37-0000-1000-8000-00805f9b34fb", lambda _c, d: received.put_nowait(bytes(d))
        )
        await strap.finished.wait()
    assert [received.get_nowait().hex(), received.get_nowait().hex()] == ["003c", "003d"]


async def test_drop_after_disconnects_once(radio: BumbleBackend) -> None:
    strap = await radio.add(VirtualHeartRateStrap([HeartRate(bpm=60)] * 3, faults=Faults(drop_after=1)))
    lost = asyncio.Event()
    client = BleakClient(strap.address, lambda _c: lost.set(), backend=radio.client_backend, timeout=5)
    await client.connect()
    await client.start_notify("00002a37-0000-1000-8000-00805f9b34fb", lambda _c, _d: None)
    await lost.wait()
    assert (strap.sent, client.is_connected) == (1, False)


async def test_writing_current_time_sets_the_clock(radio: BumbleBackend) -> None:
    thermometer = await radio.add(VirtualThermometer(clock_set=False))
    async with BleakClient(thermometer.address, backend=radio.client_backend, timeout=5) as client:
        unknown = gatt.current_time.decode_current_time(bytes(await client.read_gatt_char(CURRENT_TIME)), UTC)
        assert unknown.time is None
        when = datetime.now(UTC) + timedelta(days=1)
        value = gatt.current_time.encode_current_time(gatt.current_time.CurrentTime(time=when), UTC)
        await client.write_gatt_char(CURRENT_TIME, value, response=True)
    assert thermometer.clock_set
    assert abs(thermometer.clock_offset - timedelta(days=1)) < timedelta(seconds=5)


class RacpClient:
    """A bare RACP client over bleak: writes requests, collects notifications and answers."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.values: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def start(self) -> None:
        await self.client.pair()
        for uuid in (GLUCOSE, CONTEXT, RACP):
            await self.client.start_notify(uuid, lambda c, d: self.values.put_nowait((c.uuid, bytes(d))))

    async def ask(self, request: bytes) -> tuple[list[str], bytes]:
        await self.client.write_gatt_char(RACP, request, response=True)
        records = []
        while True:
            uuid, data = await self.values.get()
            if uuid == RACP:
                return records, data
            records.append(f"{uuid[4:8]}:{data[1] | data[2] << 8}")


def meter_records(count: int) -> list[BloodGlucose]:
    at = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    return [BloodGlucose(value=100 + n % 50, sequence_number=n, measured_at=at) for n in range(1, count + 1)]


@pytest.mark.parametrize(
    ("request_hex", "records", "answer_hex"),
    [
        ("0101", ["2a18:1", "2a18:2", "2a18:3", "2a18:4"], "06000101"),
        ("0105", ["2a18:1"], "06000101"),
        ("0106", ["2a18:4"], "06000101"),
        ("01020102 00", ["2a18:1", "2a18:2"], "06000101"),
        ("01030103 00", ["2a18:3", "2a18:4"], "06000101"),
        ("0104010200 0300", ["2a18:2", "2a18:3"], "06000101"),
        ("01030109 00", [], "06000106"),  # no records found
        ("0401", [], "05000400"),
        ("04030104 00", [], "05000100"),
        ("0901", [], "06000902"),  # op code not supported
        ("0109", [], "06000103"),  # invalid operator
        ("0103020000000000000000", [], "06000109"),  # user facing time: operand not supported
        ("010301", [], "06000105"),  # invalid operand
    ],
)
async def test_glucometer_answers_each_procedure(
    radio: BumbleBackend, request_hex: str, records: list[str], answer_hex: str
) -> None:
    meter = await radio.add(VirtualGlucometer(records=meter_records(4)))
    async with BleakClient(meter.address, backend=radio.client_backend, timeout=5) as client:
        racp_client = RacpClient(client)
        await racp_client.start()
        got, answer = await racp_client.ask(bytes.fromhex(request_hex))
    assert (got, answer.hex()) == (records, answer_hex)


async def test_glucometer_deletes_records(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer(records=meter_records(4)))
    async with BleakClient(meter.address, backend=radio.client_backend, timeout=5) as client:
        racp_client = RacpClient(client)
        await racp_client.start()
        _, answer = await racp_client.ask(
            racp.encode_request(
                racp.RacpRequest(racp.OpCode.DELETE_STORED_RECORDS, racp.Operator.LESS_THAN_OR_EQUAL_TO, (2,))
            )
        )
    assert answer.hex() == "06000201"
    assert [r.sequence_number for r in meter.records] == [3, 4]


async def test_glucometer_abort_stops_a_transfer_and_refuses_a_second_procedure(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer(records=meter_records(2000)))
    async with BleakClient(meter.address, backend=radio.client_backend, timeout=5) as client:
        racp_client = RacpClient(client)
        await racp_client.start()
        await client.write_gatt_char(RACP, bytes.fromhex("0101"), response=True)
        await racp_client.values.get()  # the transfer is under way
        from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode

        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char(RACP, bytes.fromhex("0401"), response=True)
        assert info.value.code == BleakGATTProtocolErrorCode.PROCEDURE_ALREADY_IN_PROGRESS
        got, answer = await racp_client.ask(bytes.fromhex("0300"))
    assert answer.hex() == "06000301"  # abort: success, and no response to the report
    assert 0 < len(got) < 1999


async def test_closing_does_not_hang_when_the_central_left_the_link_without_disconnecting() -> None:
    """A connect cut short (a timeout under load) can take the central off the link with
    the peripheral still connected; bumble then never confirms the peripheral's own
    disconnection. Closing the device (and the radio, and ``telemedroom serve``) hung on
    that for ever; it must finish. Real bumble controllers on a real LocalLink.
    """
    from bumble.hci import Address

    async with BumbleBackend() as radio:
        strap = await radio.add(VirtualHeartRateStrap())
        central = await radio.central("client")
        await central.connect(Address(strap.address))
        await strap.connected.wait()
        await radio.release(central)  # gone, without an HCI disconnect
        async with asyncio.timeout(30):
            await strap.aclose()
        assert not radio.has_device(strap.address)  # powered off and off the link
