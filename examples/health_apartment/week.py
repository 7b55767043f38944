"""A week in a health apartment: a heart-failure patient at home, watched through a care plan.

Monday's readings come from virtual devices (a cuff, a scale and a pulse oximeter on an
in-memory Bluetooth radio) through DeviceManager, exactly as with real ones; the rest
of the week is generated. The monitor raises alerts (weight gain, a blood-pressure
spike, a missed morning reading, low SpO2) and escalates the one nobody acknowledges.
Readings (as Observations) and alerts (as Flag, Communication, DetectedIssue) go into one
encrypted outbox, drained at the end into NDJSON files (the embedded default; a
FhirClient for a real server); every alert event also goes to a webhook (here a fake
receiver, in-process, that checks the HMAC signature and fails once to show the retry).
At the end it writes Sunday's summary
as an HTML page into a temporary folder, or into the folder given as the first argument
(``python examples/health_apartment.py out/`` keeps it to open in a browser).
Needs ``pip install 'telemedroom[ble,sim]'``.
"""

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from telemedroom import BloodPressure, BodyWeight, Measurement, OxygenSaturation
from telemedroom.devices import Connection, DeviceManager
from telemedroom.fhir import FileSink, Outbox, transaction_json
from telemedroom.monitoring import (
    SIGNATURE_HEADER,
    AlertEvent,
    AuditRecord,
    FhirAlertSink,
    Monitor,
    WebhookSink,
    daily_summary,
    load_care_plan,
    render_html,
    verify_signature,
)
from telemedroom.testing import (
    BumbleBackend,
    VirtualBloodPressureCuff,
    VirtualPulseOximeter,
    VirtualWeightScale,
)

HOME = ZoneInfo("Europe/Berlin")
SECRET = "shared-with-the-care-team-portal"
CARE_PLAN = """
patient = "Patient/heart-failure-4711"
timezone = "Europe/Berlin"
care_team = "CareTeam/health-apartment-2"

[[rules]]
type = "threshold"
id = "systolic"
measurement = "blood_pressure"
field = "systolic"
above = 180
below = 90
hysteresis = 5

[[rules]]
type = "threshold"
id = "spo2-low"
measurement = "oxygen_saturation"
field = "spo2_percent"
below = 92
hysteresis = 1

[[rules]]
type = "trend"
id = "weight-gain"
measurement = "body_weight"
field = "value"
rise = 2.0
within = "P3D"
hysteresis = 0.5

[[rules]]
type = "missed"
id = "bp-morning"
measurement = "blood_pressure"
due = 10:00:00
severity = "moderate"

[[escalation]]
after = "PT30M"
to = "PractitionerRole/on-call-nurse"

[[escalation]]
after = "PT2H"
to = "PractitionerRole/on-call-physician"
"""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=HOME)


class PrintSink:
    """Shows each alert event as clinic staff would see it in a list."""

    async def deliver(self, event: AlertEvent) -> None:
        when = event.at.astimezone(HOME).strftime("%a %d %b %H:%M")
        who = event.recipient if event.type != "acknowledged" else event.actor
        print(f"{when}  {event.type:<12} {event.alert.severity:<8} {event.alert.message}  -> {who}")


class FakeReceiver:
    """A fake webhook receiver (in-process httpx MockTransport): verifies, fails the first request."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        verify_signature(SECRET, request.content, request.headers[SIGNATURE_HEADER])
        if self.requests == 1:
            return httpx.Response(503)  # the portal is restarting: the sink retries
        self.accepted.add(request.headers["Telemedroom-Event"])
        return httpx.Response(204)


async def take(connection: Connection, count: int) -> AsyncIterator[Measurement]:
    """The first ``count`` final readings of a device (the cuff also sends its inflation)."""
    async with contextlib.aclosing(connection.measurements()) as stream:
        async for reading in stream:
            if not getattr(reading, "intermediate", False):
                yield reading
                count -= 1
                if count == 0:
                    return


async def keep(
    outbox: Outbox, patient: str, source: AsyncIterator[Measurement]
) -> AsyncIterator[Measurement]:
    """Each reading into the outbox (as an Observation) before the monitor sees it."""
    async for reading in source:
        await outbox.put(transaction_json([reading], patient=patient))
        yield reading


async def monday_through_devices(monitor: Monitor, outbox: Outbox, now: list[datetime]) -> None:
    cuff = VirtualBloodPressureCuff(
        [BloodPressure(systolic=132, diastolic=84, pulse_rate=72, measured_at=at(23, 7, 30))], tz=HOME
    )
    scale = VirtualWeightScale([BodyWeight(value=81.0, measured_at=at(23, 7))], tz=HOME)
    oximeter = VirtualPulseOximeter(
        [OxygenSaturation(spo2_percent=96, pulse_rate=70, measured_at=at(23, 7, 35))], tz=HOME
    )
    now[0] = at(23, 7, 40)
    async with BumbleBackend() as radio:
        for device in (scale, cuff, oximeter):
            await radio.add(device)
        async with DeviceManager(backend=radio, tz=HOME) as manager:
            for device in (scale, cuff, oximeter):
                async with await manager.connect(device.address) as connection:
                    await monitor.run(keep(outbox, monitor.plan.patient, take(connection, 1)))
    kinds = [("body_weight", "value"), ("blood_pressure", "systolic"), ("oxygen_saturation", "spo2_percent")]
    print(f"Monday: {sum(len(monitor.series(*kind)) for kind in kinds)} readings from 3 virtual devices")


def rest_of_the_week() -> list[Measurement]:
    weights = {24: 81.2, 25: 81.9, 26: 82.6, 27: 83.4, 28: 83.1, 29: 82.8}
    readings: list[Measurement] = []
    for day, kg in weights.items():
        readings.append(BodyWeight(value=kg, measured_at=at(day, 7)))
        if day != 28:  # Saturday: the morning blood pressure is forgotten...
            readings.append(BloodPressure(systolic=134 + day % 3, diastolic=84, measured_at=at(day, 7, 30)))
        readings.append(OxygenSaturation(spo2_percent=96 if day != 29 else 91, measured_at=at(day, 7, 35)))
    readings += [
        BloodPressure(
            systolic=186, diastolic=104, pulse_rate=88, measured_at=at(27, 19, 30)
        ),  # Friday evening
        BloodPressure(systolic=150, diastolic=92, measured_at=at(28, 11, 15)),  # ...taken late on Saturday
        OxygenSaturation(spo2_percent=90, measured_at=at(29, 7, 50)),  # still low: the same alert
        OxygenSaturation(spo2_percent=94, measured_at=at(29, 8, 30)),
    ]
    return sorted(readings, key=lambda m: m.measured_at or at(23, 0))


async def main(folder: Path) -> None:
    (folder / "care-plan.toml").write_text(CARE_PLAN)
    plan = load_care_plan(folder / "care-plan.toml")
    now = [at(23, 6)]
    audit: list[AuditRecord] = []
    receiver = FakeReceiver()
    async with (
        Outbox(folder / "outbox.sqlite", key=os.urandom(32)) as outbox,
        httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http,
    ):
        webhook = WebhookSink("https://portal.clinic.example/alerts", SECRET, http=http, backoff=0.01)
        sinks = [PrintSink(), FhirAlertSink(outbox.put), webhook]
        monitor = Monitor(plan, sinks=sinks, audit=audit.append, clock=lambda: now[0], since=now[0])
        await monday_through_devices(monitor, outbox, now)

        # Who acknowledges what, and when (the weight alert waits for the physician).
        acknowledgements = {
            "weight-gain": ("Practitioner/dr-weber", timedelta(hours=3)),
            "systolic": ("Practitioner/nurse-schulz", timedelta(minutes=10)),
            "bp-morning": ("Practitioner/nurse-schulz", timedelta(minutes=20)),
            "spo2-low": ("Practitioner/nurse-schulz", timedelta(minutes=5)),
        }
        pending = list(rest_of_the_week())
        tick = at(23, 8)
        while tick <= at(29, 20):
            while pending and pending[0].measured_at and pending[0].measured_at <= tick:
                reading = pending.pop(0)
                now[0] = reading.measured_at or tick
                await monitor.check()
                await outbox.put(transaction_json([reading], patient=plan.patient))
                await monitor.ingest(reading)
            now[0] = tick
            await monitor.check()
            for alert in monitor.alerts:
                person, delay = acknowledgements[alert.rule_id]
                if not alert.acknowledged and alert.raised_at + delay <= tick:
                    await monitor.acknowledge(alert.id, by=person, at=alert.raised_at + delay)
            tick += timedelta(minutes=5)
        drained = await outbox.drain(FileSink(folder / "fhir"))  # or a FhirClient for a FHIR server

    alerts = monitor.alerts
    escalations = sum(a.escalation_level for a in alerts)
    cleared = sum(not a.active for a in alerts)
    print(f"alerts: {len(alerts)} raised, {escalations} escalations, {cleared} cleared")
    accepted = len(receiver.accepted)
    print(f"webhook: {accepted} events accepted in {receiver.requests} requests, signatures verified")
    print(f"audit: {len(audit)} records")
    files = sorted((folder / "fhir").glob("*.ndjson"))
    lines = ", ".join(f"{len(f.read_text().splitlines())} {f.stem}" for f in files)
    print(f"FHIR: {drained.sent} bundles from the outbox -> {lines}")
    summary = daily_summary(monitor, at(29, 0).date())
    page = folder / f"summary-{summary.day}.html"
    page.write_text(render_html(summary), encoding="utf-8")
    weight = next(s for s in summary.series if s.kind == "body_weight")
    trend = f"{weight.latest:.1f} kg ({weight.change:+.1f} kg in 7 days)"
    print(f"Sunday: weight {trend}, alerts listed: {len(summary.alerts)}")
    print(f"wrote {page.name} ({page.stat().st_size} bytes)")


if len(sys.argv) > 1:
    Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
    asyncio.run(main(Path(sys.argv[1])))
else:
    with tempfile.TemporaryDirectory(prefix="health-apartment-") as temporary:
        asyncio.run(main(Path(temporary)))
