"""The ``telemedroom`` command.

``telemedroom demo`` runs a simulated room: a virtual cuff, pulse oximeter, thermometer,
scale, heart-rate strap and glucometer advertise on an in-memory Bluetooth radio, and
the room scans, connects and prints each reading as it arrives.

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    telemedroom ...
    0
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telemedroom._demo import simulated_room
from telemedroom._version import __version__
from telemedroom.errors import TelemedroomError

__all__ = ["main"]


def _demo(timezone: str) -> int:
    tz = ZoneInfo(timezone)
    print(
        f"telemedroom {__version__}: a simulated room ({timezone}), virtual devices on an in-memory radio\n"
    )
    started = time.perf_counter()
    sent, received = asyncio.run(simulated_room(tz, lambda line: print(line, flush=True)))
    if [m.model_copy(update={"device": None}) for m in received] != sent:
        print("the room received something other than what the devices sent", file=sys.stderr)
        return 1
    print(
        f"\n{len(received)} readings from 6 devices in {time.perf_counter() - started:.1f} s, "
        "each exactly what the device measured."
    )
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
    demo = commands.add_parser("demo", help="run a simulated room with virtual health devices")
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
