"""The ``telemedroom`` command.

``telemedroom demo`` sends a sample reading of every supported Bluetooth health profile
through the encoder and the decoder and prints what a room would receive.

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    telemedroom ...
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telemedroom._demo import sample_readings
from telemedroom._version import __version__
from telemedroom.devices import gatt
from telemedroom.errors import TelemedroomError
from telemedroom.measurements import (
    BloodGlucose,
    BloodPressure,
    BodyTemperature,
    BodyWeight,
    HeartRate,
    Measurement,
    OxygenSaturation,
)

__all__ = ["main"]


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


# One line of text per reading type, for the table: tables over branches.
_SUMMARY = {
    BloodPressure: lambda m: (
        f"cuff {_number(m.systolic)} {m.unit}"
        if m.intermediate
        else f"{_number(m.systolic)}/{_number(m.diastolic)} {m.unit}, MAP {_number(m.mean_arterial)}, "
        f"pulse {_number(m.pulse_rate)}/min"
    ),
    HeartRate: lambda m: f"{m.bpm}/min, RR {', '.join(f'{rr:.3f}' for rr in m.rr_intervals_s)} s",
    OxygenSaturation: lambda m: f"SpO2 {_number(m.spo2_percent)} %, pulse {_number(m.pulse_rate)}/min",
    BodyTemperature: lambda m: f"{_number(m.value)} {m.unit}" + (f" ({m.site})" if m.site else ""),
    BodyWeight: lambda m: (
        f"{_number(m.value)} {m.unit}, {_number(m.height)} {m.height_unit}, BMI {_number(m.bmi)}"
    ),
    BloodGlucose: lambda m: (
        f"{_number(m.value)} {m.unit} #{m.sequence_number}"
        + (f", {m.context.meal}" if m.context and m.context.meal else "")
    ),
}


def _summary(m: Measurement) -> str:
    text: str = _SUMMARY[type(m)](m)
    return text


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _demo(timezone: str) -> int:
    tz = ZoneInfo(timezone)
    rows = [("characteristic", "bytes on the wire", "decoded", "time", "status")]
    for reading in sample_readings(tz):
        uuid = gatt.characteristic_of(reading)
        decoder = gatt.Decoder(tz=tz)
        data = gatt.encode(reading, tz=tz)
        received = decoder.feed(uuid, data)
        wire = data.hex(" ")
        if isinstance(reading, BloodGlucose) and reading.context is not None:
            context = gatt.glucose.encode_glucose_context(reading.sequence_number, reading.context)
            received += decoder.feed(gatt.glucose.GLUCOSE_MEASUREMENT_CONTEXT, context)
            wire += " | 0x2A34: " + context.hex(" ")
        [decoded] = received
        if decoded != reading:
            print(f"round trip changed {reading!r} into {decoded!r}", file=sys.stderr)
            return 1
        rows.append(
            (
                f"0x{uuid:04X} {type(decoded).__name__}",
                wire,
                _summary(decoded),
                decoded.measured_at.strftime("%H:%M %Z") if decoded.measured_at else "—",
                ", ".join(sorted(decoded.status)) or "—",
            )
        )
    print(f"telemedroom {__version__}: every supported profile, encoded and decoded ({timezone})\n")
    print(_table(rows))
    print(f"\n{len(rows) - 1} readings decoded back to exactly what was sent.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples:
        >>> main(["demo", "--tz", "Mars/Olympus"])
        telemedroom: unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Berlin
        2
    """
    parser = argparse.ArgumentParser(
        prog="telemedroom", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="encode and decode a sample reading of every profile")
    demo.add_argument("--tz", default="Europe/Berlin", help="the room's time zone (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.version:
        print(f"telemedroom {__version__}")
        return 0
    if args.command == "demo":
        try:
            return _demo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            print(f"telemedroom: unknown time zone {args.tz!r}; use an IANA name such as Europe/Berlin")
            return 2
        except TelemedroomError as exc:
            print(f"telemedroom: {exc}", file=sys.stderr)
            return 1
    parser.print_help()
    return 2
