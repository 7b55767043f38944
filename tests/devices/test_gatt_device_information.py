"""Device Information Service (0x180A): the name strings and the System ID (0x2A23).

Vectors worked out from the GATT Specification Supplement (GSS) string characteristics
(Manufacturer Name, Model Number, Serial Number, Firmware/Hardware/Software Revision: utf8s)
and System ID (Manufacturer Identifier uint40 then Organizationally Unique Identifier uint24,
each least significant octet first); Device Information Service 1.1.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import (
    DeviceInfo,
    HeartRate,
    MeasurementDecodeError,
    MeasurementEncodeError,
    UnsupportedCharacteristic,
)
from telemedroom.devices import gatt
from telemedroom.devices.gatt import device_information

h = bytes.fromhex
SYSTEM_ID = device_information.SYSTEM_ID

EVERYTHING = DeviceInfo(
    manufacturer="Acme Medical",
    model="BP-7",
    serial_number="SN-0042",
    firmware_revision="1.4.2",
    hardware_revision="rev C",
    software_revision="2026.11",
    system_id="00-1B-2C-FF-FE-3D-4E-5F",
)
EVERYTHING_VALUES = {
    0x2A29: b"Acme Medical",
    0x2A24: b"BP-7",
    0x2A25: b"SN-0042",
    0x2A26: b"1.4.2",
    0x2A27: b"rev C",
    0x2A28: b"2026.11",
    # manufacturer identifier 0xFFFE3D4E5F (5f 4e 3d fe ff), OUI 0x001B2C (2c 1b 00)
    0x2A23: h("5f4e3dfeff 2c1b00"),
}

# (characteristic values, expected DeviceInfo, whether encoding gives the same values back)
VECTORS = [
    pytest.param(EVERYTHING_VALUES, EVERYTHING, True, id="every-characteristic"),
    pytest.param({}, DeviceInfo(), True, id="nothing-read"),
    pytest.param({0x2A29: b"Acme Medical"}, DeviceInfo(manufacturer="Acme Medical"), True, id="manufacturer"),
    pytest.param(
        {"2a24": b"BP-7", "00002a25-0000-1000-8000-00805f9b34fb": b"SN-0042", "0x2A26": b"1.0"},
        DeviceInfo(model="BP-7", serial_number="SN-0042", firmware_revision="1.0"),
        False,  # keys come back as 16-bit ints
        id="uuid-spellings",
    ),
    pytest.param(
        {0x2A29: "Müller Medizintechnik".encode()},
        DeviceInfo(manufacturer="Müller Medizintechnik"),
        True,
        id="utf8",
    ),
    # devices pad fixed-size buffers with NULs and spaces: kept as the text they carry
    pytest.param({0x2A25: b"SN-0042\x00\x00"}, DeviceInfo(serial_number="SN-0042"), False, id="nul-padding"),
    pytest.param({0x2A24: b" BP-7  "}, DeviceInfo(model="BP-7"), False, id="space-padding"),
    pytest.param({0x2A24: b""}, DeviceInfo(), False, id="empty-is-unknown"),
    pytest.param({0x2A24: b"\x00\x00\x00"}, DeviceInfo(), False, id="all-nul-is-unknown"),
    pytest.param(
        {0x2A29: b"Acme \xe9quipement"},  # Latin-1, not UTF-8: readable, with a replacement mark
        DeviceInfo(manufacturer="Acme \ufffdquipement"),
        False,
        id="latin-1",
    ),
    # OUI 0x123456, manufacturer identifier 1
    pytest.param(
        {0x2A23: h("0100000000 563412")}, DeviceInfo(system_id="12-34-56-00-00-00-00-01"), True, id="sys-id"
    ),
    pytest.param({0x2A23: bytes(8)}, DeviceInfo(system_id="00-00-00-00-00-00-00-00"), True, id="sys-id-zero"),
    pytest.param(
        {0x2A23: b"\xff" * 8}, DeviceInfo(system_id="FF-FF-FF-FF-FF-FF-FF-FF"), True, id="sys-id-ones"
    ),
]


@pytest.mark.parametrize(("values", "expected", "canonical"), VECTORS)
def test_golden_values_decode_to_the_expected_device(
    values: dict[int | str, bytes], expected: DeviceInfo, canonical: bool
) -> None:
    assert device_information.decode_device_information(values) == expected
    encoded = device_information.encode_device_information(expected)
    assert (encoded == values) is canonical
    assert device_information.decode_device_information(encoded) == expected


def test_address_is_kept() -> None:
    info = device_information.decode_device_information({0x2A24: b"BP-7"}, address="C0:FF:EE:00:11:22")
    assert info == DeviceInfo(model="BP-7", address="C0:FF:EE:00:11:22")


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("00-1B-2C-FF-FE-3D-4E-5F", "5f4e3dfeff2c1b00"),
        ("00:1b:2c:ff:fe:3d:4e:5f", "5f4e3dfeff2c1b00"),
        ("001B2CFFFE3D4E5F", "5f4e3dfeff2c1b00"),
    ],
)
def test_system_id_spellings(text: str, wire: str) -> None:
    assert device_information.encode_system_id(text) == h(wire)


@pytest.mark.parametrize(
    "text", ["00-1B-2C", "00-1B-2C-FF-FE-3D-4E-5F-00", "ZZ-1B-2C-FF-FE-3D-4E-5F", "", "é"]
)
def test_system_id_invalid_text(text: str) -> None:
    with pytest.raises(MeasurementEncodeError, match="EUI-64"):
        device_information.encode_system_id(text)


@pytest.mark.parametrize(
    ("data", "offset"), [(b"", 0), (h("5f4e3dfeff2c1b"), 7), (h("5f4e3dfeff2c1b0000"), 8)]
)
def test_system_id_invalid_length(data: bytes, offset: int) -> None:
    for decode in (
        device_information.decode_system_id,
        lambda d: device_information.decode_device_information({SYSTEM_ID: d}),
    ):
        with pytest.raises(MeasurementDecodeError) as caught:
            decode(data)
        assert (caught.value.uuid, caught.value.data_hex, caught.value.offset) == ("2a23", data.hex(), offset)


@pytest.mark.parametrize("field", ["manufacturer", "model", "serial_number", "software_revision"])
def test_text_without_a_utf8_form_is_refused(field: str) -> None:
    """Bug fixed: a lone surrogate escaped as a bare UnicodeEncodeError."""
    with pytest.raises(MeasurementEncodeError, match="UTF-8"):
        device_information.encode_device_information(DeviceInfo(**{field: "Acme \ud800"}))


@pytest.mark.parametrize("key", [0x2A19, "2a35", 0x180A])
def test_characteristic_of_another_service_is_refused(key: int | str) -> None:
    with pytest.raises(UnsupportedCharacteristic):
        device_information.decode_device_information({key: b"x"})


def test_decoder_attaches_what_the_service_said() -> None:
    decoder = gatt.Decoder(tz=UTC)
    for uuid, value in EVERYTHING_VALUES.items():
        assert decoder.feed(uuid, value) == []
    assert decoder.feed(0x2A37, h("0048")) == [HeartRate(bpm=72, device=EVERYTHING)]


# --- hypothesis round trip ------------------------------------------------------------------

# Representable strings: non-empty, no NUL (trailing NULs are padding), no surrounding whitespace.
names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1).filter(
    lambda text: text == text.strip()
)
devices = st.builds(
    DeviceInfo,
    manufacturer=st.none() | names,
    model=st.none() | names,
    serial_number=st.none() | names,
    firmware_revision=st.none() | names,
    hardware_revision=st.none() | names,
    software_revision=st.none() | names,
    system_id=st.none() | st.binary(min_size=8, max_size=8).map(lambda b: "-".join(f"{x:02X}" for x in b)),
    address=st.none() | st.just("C0:FF:EE:00:11:22"),
)


@given(devices)
def test_every_device_survives_encode_and_decode(info: DeviceInfo) -> None:
    values = device_information.encode_device_information(info)
    assert device_information.decode_device_information(values, address=info.address) == info
    assert (
        device_information.encode_device_information(device_information.decode_device_information(values))
        == values
    )


@given(st.binary(min_size=8, max_size=8))
def test_every_system_id_survives_decode_and_encode(data: bytes) -> None:
    text = device_information.decode_system_id(data)
    assert device_information.encode_system_id(text) == data
    # the EUI-64 reads OUI first: the last three wire bytes, reversed
    assert text.startswith("-".join(f"{b:02X}" for b in data[:4:-1]))
