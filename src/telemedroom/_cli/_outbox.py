"""``telemedroom outbox status|drain``: the room's queue of FHIR transaction bundles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from telemedroom._room._sinks import fhir_dir, open_fhir_sink, outbox_path
from telemedroom.fhir import DrainResult, Outbox, Retry
from telemedroom.room import RoomConfig


@dataclass(frozen=True)
class OutboxStatus:
    """What waits in the outbox and what was set aside."""

    path: Path
    pending: int
    held_back: dict[int, str]


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


async def drain(config: RoomConfig, *, attempts: int) -> tuple[DrainResult, int]:
    """Send every pending bundle to the room's sink; returns what was sent and what is left."""
    # One try per request: the outbox's own backoff (and --attempts) decides when to give up.
    sink = open_fhir_sink(config, retry=Retry(attempts=1))
    async with Outbox(outbox_path(config), key=config.key) as outbox, sink as opened:
        result = await outbox.drain(opened, max_failures=attempts)
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
