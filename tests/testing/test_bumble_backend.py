"""BumbleBackend as a bleak backend: plain ``BleakClient``/``BleakScanner`` over the virtual radio.

These tests use bleak directly (no telemedroom code above it) to check that the backend
behaves as a real one: GATT database, properties, reads, writes, CCCDs, ATT errors as
``BleakGATTProtocolError``, unknown addresses as ``BleakDeviceNotFoundError``. The
radio is the only fake.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from telemedroom import BloodPressure
from telemedroom.devices import DeviceManager
from telemedroom.errors import MissingExtraError
from telemedroom.testing import BumbleBackend, VirtualBloodPressureCuff, VirtualGlucometer

CUFF_MEASUREMENT = "00002a35-0000-1000-8000-00805f9b34fb"
RACP = "00002a52-0000-1000-8000-00805f9b34fb"


async def test_scanner_reports_advertisements(radio: BumbleBackend) -> None:
    await radio.add(VirtualBloodPressureCuff())
    seen = asyncio.get_running_loop().create_future()
    scanner = BleakScanner(
        lambda device, adv: seen.done() or seen.set_result((device, adv)), backend=radio.scanner_backend
    )
    async with scanner:
        device, adv = await seen
    assert device.address == "C0:FF:EE:00:00:01"
    assert adv.local_name == "TM Cuff"
    assert adv.service_uuids == ["00001810-0000-1000-8000-00805f9b34fb"]
    assert scanner.backend_id == "BumbleScanner"


async def test_client_sees_the_whole_gatt_database(radio: BumbleBackend) -> None:
    cuff = await radio.add(VirtualBloodPressureCuff())
    async with BleakClient(cuff.address, backend=radio.client_backend, timeout=5) as client:
        services = {s.uuid[4:8] for s in client.services}
        assert {"1810", "180a", "180f", "1805"} <= services
        measurement = client.services.get_characteristic(CUFF_MEASUREMENT)
        assert measurement is not None
        assert measurement.properties == ["indicate"]
        assert [d.uuid[4:8] for d in measurement.descriptors] == ["2902"]  # the CCCD
        assert await client.read_gatt_char("00002a29-0000-1000-8000-00805f9b34fb") == b"Acme Medical"
        assert client.mtu_size >= 23


async def test_indications_reach_a_plain_bleak_callback(radio: BumbleBackend) -> None:
    cuff = await radio.add(VirtualBloodPressureCuff([BloodPressure(systolic=120, diastolic=80)]))
    received: asyncio.Queue[bytes] = asyncio.Queue()
    async with BleakClient(cuff.address, backend=radio.client_backend, timeout=5) as client:
        await client.start_notify(CUFF_MEASUREMENT, lambda _c, data: received.put_nowait(bytes(data)))
        await client.start_notify(
            "00002a36-0000-1000-8000-00805f9b34fb", lambda _c, data: received.put_nowait(bytes(data))
        )
        assert (await received.get()).hex() == "0078005000ff07"  # MAP absent: NaN (0x07FF)
        await cuff.finished.wait()
        await client.stop_notify(CUFF_MEASUREMENT)
    assert cuff.sent == 1


async def test_att_errors_become_bleak_protocol_errors(radio: BumbleBackend) -> None:
    meter = await radio.add(VirtualGlucometer())
    async with BleakClient(meter.address, backend=radio.client_backend, timeout=5) as client:
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char(RACP, b"\x01\x01", response=True)
        assert info.value.code == BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
        await client.pair()
        with pytest.raises(BleakGATTProtocolError) as info:  # RACP indications not enabled yet
            await client.write_gatt_char(RACP, b"\x01\x01", response=True)
        assert info.value.code == BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED


async def test_unknown_address_is_bleak_device_not_found(radio: BumbleBackend) -> None:
    client = BleakClient("C0:FF:EE:12:34:56", backend=radio.client_backend, timeout=1)
    with pytest.raises(BleakDeviceNotFoundError):
        await client.connect()


async def test_two_devices_cannot_share_an_address(radio: BumbleBackend) -> None:
    await radio.add(VirtualBloodPressureCuff())
    with pytest.raises(ValueError, match="already on this radio"):
        await radio.add(VirtualBloodPressureCuff())
    assert [d.name for d in radio.devices] == ["TM Cuff"]


def test_missing_sim_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bumble.link", None)  # as if bumble were not installed
    with pytest.raises(MissingExtraError) as info:
        BumbleBackend()
    assert info.value.extra == "sim"
    assert "pip install 'telemedroom[sim]'" in str(info.value)
    assert isinstance(info.value, ImportError)


async def test_missing_ble_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bleak", None)  # as if bleak were not installed
    with pytest.raises(MissingExtraError, match=r"telemedroom\[ble\]"):
        async with DeviceManager():
            pass


def test_packages_import_without_the_optional_extras() -> None:
    code = (
        "import sys\n"
        "sys.modules['bumble'] = None\n"
        "sys.modules['bleak'] = None\n"
        "import telemedroom.devices, telemedroom.testing\n"
        "cuff = telemedroom.testing.VirtualBloodPressureCuff()\n"
        "print(cuff.name, telemedroom.devices.DeviceManager().timeout)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["TM", "Cuff", "10.0"]


async def test_a_slowly_advertising_device_is_reported_the_same_every_time(radio: BumbleBackend) -> None:
    """A device switched on with nothing to send advertises about once a second; each of its
    advertisements is reported whole (name, services), also when parsed from the cache."""
    await radio.add(VirtualBloodPressureCuff(advertising_interval_ms=1022.5))
    seen: asyncio.Queue[tuple[str | None, list[str]]] = asyncio.Queue()
    scanner = BleakScanner(
        lambda _device, adv: seen.put_nowait((adv.local_name, adv.service_uuids)),
        backend=radio.scanner_backend,
    )
    async with scanner, asyncio.timeout(30):
        first, second = await seen.get(), await seen.get()
    assert first == second == ("TM Cuff", ["00001810-0000-1000-8000-00805f9b34fb"])
    assert first[1] is not second[1]  # each report has its own list: a caller may change it
