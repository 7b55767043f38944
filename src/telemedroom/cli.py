"""The ``telemedroom`` command: run the demo, serve a room, and look after its data.

Commands (``telemedroom COMMAND --help`` tells more; ``docs/cli.md`` is the reference):

- ``demo``: a complete simulated visit on embedded defaults.
- ``serve --config room.toml``: run a room.
- ``devices scan``: the Bluetooth health devices in range (``--simulate``: virtual ones).
- ``outbox status|drain|requeue --config room.toml``: the store-and-forward queue of FHIR bundles.
- ``fhir check --config room.toml``: what the clinic's FHIR server offers and what will work.
- ``audit verify PATH``: check an audit log's hash chain.
- ``slots --config room.toml``: the free appointment slots.
- ``booking serve|purge --config booking.toml``: the residents' booking page; its retention.
- ``apartment serve --config apartment.toml``: run a health apartment's gateway and screen.

Exit codes (:class:`ExitCode`): 0 ok, 1 a check failed (broken audit chain, rows the
FHIR server rejected), 2 usage error, 3 configuration error (names the key and the
file), 4 an optional part is not installed, 5 a device, server or store failed,
130 interrupted.

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    telemedroom ...
    0
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from telemedroom._cli._exit import ExitCode, exit_code_for
from telemedroom._version import __version__
from telemedroom.errors import DeviceConnectionError, TelemedroomError

if TYPE_CHECKING:
    from telemedroom.room import RoomConfig

__all__ = ["ExitCode", "app", "main"]

_T = TypeVar("_T")

app = typer.Typer(
    name="telemedroom",
    help="Build a telemedicine room: Bluetooth health devices, secure video, HL7 FHIR.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_devices_app = typer.Typer(help="Bluetooth health devices.", no_args_is_help=True)
_outbox_app = typer.Typer(help="The room's queue of FHIR bundles.", no_args_is_help=True)
_audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
_fhir_app = typer.Typer(help="The clinic's FHIR server.", no_args_is_help=True)
app.add_typer(_devices_app, name="devices")
app.add_typer(_outbox_app, name="outbox")
app.add_typer(_audit_app, name="audit")
app.add_typer(_fhir_app, name="fhir")
_booking_app = typer.Typer(help="The residents' booking page.", no_args_is_help=True)
app.add_typer(_booking_app, name="booking")
_apartment_app = typer.Typer(help="The health apartment's home gateway.", no_args_is_help=True)
app.add_typer(_apartment_app, name="apartment")

_Config = Annotated[
    Path,
    typer.Option("--config", "-c", help="The room's configuration file.", show_default=True, dir_okay=False),
]


def _out() -> Console:
    # Made per call: rich then writes to whatever sys.stdout is now (doctest, capsys).
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        _err().print("telemedroom: interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _version(value: bool) -> None:
    if value:
        print(f"telemedroom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version),
    ] = False,
) -> None:
    """Build a telemedicine room: Bluetooth health devices, secure video, HL7 FHIR."""


@app.command("demo")
def _demo_command(
    browser: Annotated[
        bool,
        typer.Option("--browser", help="The physician is headless Chromium on the real console page."),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Keep the room running and print the console and kiosk URLs."),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the room's data here (default: a new temporary directory).", file_okay=False),
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="The room's IANA time zone.")] = "Europe/Berlin",
    fhir_url: Annotated[
        str | None,
        typer.Option("--fhir-url", help="Send the record to this FHIR server instead of NDJSON files."),
    ] = None,
    fhir_server: Annotated[
        str,
        typer.Option(
            "--fhir-server", help="The server's rules: generic, hapi or medplum (docs/fhir-servers.md)."
        ),
    ] = "generic",
) -> None:
    """A complete simulated visit: virtual devices, synthetic cameras, a scripted physician, FHIR files.

    Exits 1 when the FHIR server refused the record (printed in red with its reason).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(
            f"unknown time zone {tz!r}; use an IANA name such as Europe/Berlin", param_hint="--tz"
        ) from None
    from telemedroom._cli import _demo
    from telemedroom.room import FhirSettings

    physician = _demo.browser_physician if browser else _demo.headless_physician
    if fhir_server not in ("generic", "hapi", "medplum"):
        raise typer.BadParameter("use generic, hapi or medplum", param_hint="--fhir-server")
    fhir = None
    if fhir_url is not None:
        fhir = FhirSettings(
            base_url=fhir_url,
            server=fhir_server,  # type: ignore[arg-type]
            patient_identifier_system="http://fhir.de/sid/gkv/kvid-10",
        )
    _run(
        _demo.run_demo(
            _out(),
            timezone=tz,
            data_dir=data_dir,
            physician=physician,
            serve=_demo.serve_on if serve else None,
            fhir=fhir,
        )
    )


@app.command("serve")
def _serve_command(config: _Config = Path("room.toml")) -> None:
    """Run the room of a configuration file: the patient kiosk, the devices, each visit; Ctrl-C stops it."""
    from telemedroom._cli import _serve

    _run(_serve.serve(_config(config), _out()))


# -- the clinic hub (telemedroom.hub, extra hub) -------------------------------------------------
_hub_app = typer.Typer(help="The clinic hub: staff login, worklist, fleet view.")
app.add_typer(_hub_app, name="hub")


@_hub_app.callback(invoke_without_command=True)
def _hub_serve(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The hub's configuration file.", dir_okay=False)
    ] = Path("hub.toml"),
    host: Annotated[
        str, typer.Option(help="Address to listen on (the reverse proxy's upstream).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8600,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the clinic hub (JSON log lines on stderr): ``telemedroom hub --config hub.toml``."""
    if ctx.invoked_subcommand is not None:
        return
    from telemedroom._cli import _hub

    _run(_hub.serve(config, host=host, port=port, log_level=log_level))


@_hub_app.command("hash-password")
def _hub_hash_password(
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Print an argon2id hash for a local account (``password_hash`` in the accounts file)."""
    from telemedroom.hub import hash_password

    print(hash_password(password))


@_devices_app.command("scan")
def _devices_scan(
    timeout: Annotated[float, typer.Option(help="Seconds to listen.", min=0.1)] = 5.0,
    adapter: Annotated[str | None, typer.Option(help="Bluetooth adapter, e.g. hci1 (Linux).")] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Scan virtual devices on an in-memory radio instead.")
    ] = False,
) -> None:
    """List the Bluetooth LE devices in range, health devices first.

    Needs the ``ble`` extra; ``--simulate`` also the ``sim`` extra.
    """
    from telemedroom._cli import _devices

    if simulate:
        found = _run(_devices.simulated_scan(timeout))
        where = "simulated: virtual devices on an in-memory radio"
    else:
        try:
            found = _run(_devices.scan(timeout=timeout, adapter=adapter))
        except DeviceConnectionError:
            _err().print(
                "telemedroom: no Bluetooth adapter could scan (is BlueZ running, is the adapter "
                "name right?); `telemedroom devices scan --simulate` scans virtual devices instead"
            )
            raise
        where = adapter or "default adapter"
    _devices.show(_out(), found, where)


@_audit_app.command("verify")
def _audit_verify(
    path: Annotated[
        Path, typer.Argument(help="The audit log, JSON Lines.", exists=True, dir_okay=False, readable=True)
    ],
    head: Annotated[
        str | None, typer.Option(help="A head hash kept elsewhere: the chain must contain it.")
    ] = None,
    entries: Annotated[bool, typer.Option("--entries", help="List every entry.")] = False,
) -> None:
    """Check the hash chain of an audit log; exit 1 at the first entry altered, missing or moved."""
    from telemedroom._cli import _audit

    log = _audit.verify(path, head=head)
    _audit.show(_out(), log, path, entries=entries)


def _config(path: Path) -> RoomConfig:
    from telemedroom.room import RoomConfig

    return RoomConfig.from_toml(path)


@_outbox_app.command("status")
def _outbox_status(config: _Config = Path("room.toml")) -> None:
    """What waits to be sent, what was set aside and why; exit 1 if anything is held back."""
    from telemedroom._cli import _outbox

    room = _config(config)
    found = _run(_outbox.status(room))
    _outbox.show_status(_out(), room, found)
    if found.held_back:
        raise typer.Exit(ExitCode.CHECK_FAILED)


@_outbox_app.command("drain")
def _outbox_drain(
    config: _Config = Path("room.toml"),
    attempts: Annotated[
        int, typer.Option(help="Give up after this many failed attempts in a row.", min=1)
    ] = 5,
) -> None:
    """Send every pending bundle now; exit 1 if the server rejected some, 5 if it stayed unreachable."""
    from telemedroom._cli import _outbox

    room = _config(config)
    result, left = _run(_outbox.drain(room, attempts=attempts))
    _outbox.show_drain(_out(), room, result, left)
    if result.rejected:
        raise typer.Exit(ExitCode.CHECK_FAILED)


@_outbox_app.command("requeue")
def _outbox_requeue(
    rows: Annotated[
        list[int] | None, typer.Argument(help="Row ids to send again (default: every rejected row).")
    ] = None,
    config: _Config = Path("room.toml"),
) -> None:
    """Send bundles the FHIR server rejected again on the next drain, once the cause is fixed."""
    from telemedroom._cli import _outbox

    room = _config(config)
    requeued = _run(_outbox.requeue(room, rows or []))
    _outbox.show_requeue(_out(), requeued)


@app.command("slots")
def _slots_command(
    config: _Config = Path("room.toml"),
    schedule: Annotated[
        Path | None,
        typer.Option(
            help="Resources and services (default: schedule.toml beside the config).", dir_okay=False
        ),
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="The service's id (needed if there are several).")
    ] = None,
    days: Annotated[float, typer.Option(help="How many days ahead to look.", min=0.01)] = 7.0,
    limit: Annotated[int, typer.Option(help="At most this many slots.", min=1)] = 20,
) -> None:
    """The free appointment slots of a service, earliest first, in the room's local time."""
    from datetime import UTC, datetime

    from telemedroom._cli import _slots
    from telemedroom.scheduling import load_schedule

    room = _config(config)
    plan = load_schedule(schedule or config.parent / "schedule.toml")
    chosen = _slots.pick_service(plan, service)
    found = _run(_slots.find(room.schedule_url, plan, chosen, datetime.now(UTC), days, limit))
    names = {resource.id: resource.name for resource in plan.resources}
    _slots.show(_out(), found, chosen, room.zone, names)


@_fhir_app.command("check")
def _fhir_check(config: _Config = Path("room.toml")) -> None:
    """Read the FHIR server's CapabilityStatement and probe it (writing nothing): what will work."""
    from telemedroom._cli import _fhir

    found = _run(_fhir.check(_config(config)))
    _fhir.show(_out(), found)
    if not found.ok:
        raise typer.Exit(ExitCode.CHECK_FAILED)


_BookingConfig = Annotated[
    Path,
    typer.Option("--config", "-c", help="The booking page's configuration file.", dir_okay=False),
]


@_booking_app.command("serve")
def _booking_serve(
    config: _BookingConfig = Path("booking.toml"),
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.", min=1, max=65535)] = 8020,
) -> None:
    """Serve the residents' booking page (and, with ``api = true``, the JSON API); Ctrl-C stops it.

    Needs the ``booking`` extra. Access logs are off: a manage link's token is in its path.
    """
    from telemedroom._cli import _booking

    _run(_booking.serve(_booking.load(config), host, port, _out()))


@_booking_app.command("purge")
def _booking_purge(config: _BookingConfig = Path("booking.toml")) -> None:
    """Delete residents' details whose appointment ended more than ``retention_days`` ago."""
    from telemedroom._cli import _booking

    count = _run(_booking.purge(_booking.load(config)))
    _out().print(f"purged the details of {count} appointment(s)")


@_apartment_app.command("serve")
def _apartment_serve(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The apartment's configuration file.", dir_okay=False)
    ] = Path("apartment.toml"),
) -> None:
    """Run a health apartment: listen to its devices, show the patient's screen, reach the ward."""
    from telemedroom._cli import _apartment
    from telemedroom.apartment import ApartmentConfig

    _run(_apartment.serve(ApartmentConfig.from_toml(config), _out()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see :class:`ExitCode`).

    Errors of telemedroom are printed as one line on stderr (no traceback) and become
    their exit code.

    Examples:
        >>> main(["audit", "verify", "no-such-audit.jsonl"])
        2
    """
    from telemedroom._cli._help import flags_as_flags

    command = flags_as_flags(typer.main.get_command(app))
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Standalone: the command parser prints usage errors (exit 2), help (exit 0) and
        # exits; whatever a command raises comes through to be reported here.
        command.main(args=args, prog_name="telemedroom", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE if exc.code else ExitCode.OK
    except TelemedroomError as exc:
        # Text, not markup: messages hold brackets ("pip install 'telemedroom[ble]'").
        _err().print(Text.assemble(("telemedroom: error: ", "bold red"), str(exc)), soft_wrap=True)
        return exit_code_for(exc)
    return ExitCode.OK
