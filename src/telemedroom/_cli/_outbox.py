"""``telemedroom outbox status|drain``: the room's queue of FHIR transaction bundles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from telemedroom.errors import RoomConfigError
from telemedroom.fhir import DrainResult, FhirClient, FhirSink, FileSink, Outbox, Retry, SmartBackendAuth
from telemedroom.room import RoomConfig


@dataclass(frozen=True)
class OutboxStatus:
    """What waits in the outbox and what was set aside."""

    path: Path
    pending: int
    held_back: dict[int, str]


def outbox_path(config: RoomConfig) -> Path:
    """Where the room keeps its outbox."""
    return config.data_dir / "outbox.sqlite"


def fhir_dir(config: RoomConfig) -> Path:
    """Where the embedded NDJSON sink writes when no FHIR server is configured."""
    return config.data_dir / "fhir"


async def status(config: RoomConfig) -> OutboxStatus:
    """Count the pending rows and list the held-back ones (opens the outbox read-mostly)."""
    path = outbox_path(config)
    async with Outbox(path, key=config.key) as outbox:
        return OutboxStatus(path=path, pending=await outbox.pending(), held_back=await outbox.held_back())


def ndjson_counts(directory: Path) -> dict[str, int]:
    """Resources per NDJSON file of the embedded sink (file name -> lines)."""
    if not directory.is_dir():
        return {}
    return {
        file.name: sum(1 for line in file.read_bytes().splitlines() if line.strip())
        for file in sorted(directory.glob("*.ndjson"))
    }


def show_status(console: Console, config: RoomConfig, found: OutboxStatus) -> None:
    """The counts, the sink and any rows set aside, with why."""
    sink = config.fhir.base_url or f"NDJSON files in {fhir_dir(config)}"
    console.print(f"outbox {found.path}")
    console.print(f"  pending:   {found.pending} bundle(s)")
    console.print(f"  held back: {len(found.held_back)} bundle(s)")
    console.print(f"  sink:      {sink}")
    if found.held_back:
        rows = Table(title="Held back (not sent again)", title_justify="left")
        rows.add_column("row", justify="right")
        rows.add_column("why")
        for row_id, why in sorted(found.held_back.items()):
            rows.add_row(str(row_id), why)
        console.print(rows)
    counts = ndjson_counts(fhir_dir(config))
    if config.fhir.base_url is None and counts:
        console.print("  written:   " + ", ".join(f"{name} {n}" for name, n in counts.items()))


def show_drain(console: Console, config: RoomConfig, result: DrainResult, left: int) -> None:
    """What one drain sent, and what it left."""
    sink = config.fhir.base_url or str(fhir_dir(config))
    console.print(
        f"sent {result.sent} bundle(s) in {result.batches} transaction(s) to {sink}; {left} pending"
    )
    if result.rejected:
        rows = ", ".join(map(str, result.rejected))
        console.print(f"[red]rejected by the server[/] (kept, not sent again): rows {rows}")


@asynccontextmanager
async def open_sink(config: RoomConfig) -> AsyncIterator[FhirSink]:
    """The room's FHIR sink: ``[fhir] base_url``, or NDJSON files in ``data_dir/fhir`` without one.

    A server is reached with SMART backend services when ``[fhir] client_id`` is set.

    Raises:
        RoomConfigError: ``client_id`` without ``private_key_file`` and ``key_id``, or a
            key file that cannot be read.
    """
    fhir = config.fhir
    if fhir.base_url is None:
        yield FileSink(fhir_dir(config))
        return
    auth = None
    if fhir.client_id is not None:
        auth = SmartBackendAuth(
            fhir.client_id, _private_key(config), key_id=fhir.key_id or "", scope=fhir.scopes
        )
    # One try per request: the outbox's own backoff (and --attempts) decides when to give up.
    async with FhirClient(fhir.base_url, auth=auth, retry=Retry(attempts=1)) as client:
        yield client


def _private_key(config: RoomConfig) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    fhir, source = config.fhir, "room configuration"
    if fhir.private_key_file is None or fhir.key_id is None:
        missing = "fhir.private_key_file" if fhir.private_key_file is None else "fhir.key_id"
        raise RoomConfigError(missing, source, "missing: fhir.client_id needs private_key_file and key_id")
    try:
        return load_pem_private_key(Path(fhir.private_key_file).read_bytes(), password=None)
    except OSError as exc:
        raise RoomConfigError("fhir.private_key_file", source, f"cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise RoomConfigError("fhir.private_key_file", source, f"not an unencrypted PEM key: {exc}") from exc


async def drain(config: RoomConfig, *, attempts: int) -> tuple[DrainResult, int]:
    """Send every pending bundle to the room's sink; returns what was sent and what is left."""
    async with Outbox(outbox_path(config), key=config.key) as outbox, open_sink(config) as sink:
        result = await outbox.drain(sink, max_failures=attempts)
        return result, await outbox.pending()


async def requeue(config: RoomConfig, rows: list[int]) -> list[int]:
    """Put rejected rows back to pending: ``rows``, or every rejected row when empty."""
    async with Outbox(outbox_path(config), key=config.key) as outbox:
        if not rows:
            held = await outbox.held_back()
            rows = [row for row, why in held.items() if why.startswith("rejected")]
        return await outbox.requeue(*rows) if rows else []


def show_requeue(console: Console, requeued: list[int]) -> None:
    """Which rows go out again."""
    if requeued:
        console.print(f"requeued rows {', '.join(map(str, requeued))}: sent on the next drain")
    else:
        console.print("nothing to requeue (only rows the server rejected can be sent again)")
