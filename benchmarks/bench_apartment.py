"""The health apartment's gateway: idle cost over a simulated week, and reading -> ward's webhook.

Run: ``.venv/bin/python benchmarks/bench_apartment.py [--seconds 60] [--readings 200]``.

1. **Idle, real time**: ``Apartment.run()`` (listener scanning a virtual radio with two
   paired devices that have nothing to send, the ticker, the delivery loop) for
   ``--seconds``; process CPU and peak RSS. Baseline: a bare ``DeviceManager.scan`` loop
   on the same radio for as long (what any gateway must do to listen). Three radios:
   devices advertising every 20 ms (the test default), every 1022.5 ms (a device
   switched on with nothing to send, after its first 30 s), and quiet.
2. **A simulated week**: the same gateway's ``check()`` once per simulated minute for
   7 days (10 080 checks, a SimulatedClock): CPU seconds per week, i.e. the idle cost the
   care plan's deadlines, device health and retention add, as a share of one core.
   Baseline: the bare ``Monitor.check`` of the same care plan, as often.
3. **Reading -> webhook**: ``Apartment.accept`` of a reading that raises or clears an
   alert, until the ward's webhook receiver (an in-process httpx MockTransport, so only
   the gateway's own work is timed) has the signed event; p50/p99. Baseline: a bare
   ``Monitor.ingest`` with the same WebhookSink and receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telemedroom import BloodPressure
from telemedroom.apartment import Apartment, ApartmentConfig
from telemedroom.devices import DeviceManager
from telemedroom.monitoring import Monitor, WebhookSink, load_care_plan
from telemedroom.testing import BumbleBackend, SimulatedClock, VirtualBloodPressureCuff, VirtualWeightScale

PLAN = """
patient = "Patient/p1"
timezone = "Europe/Berlin"
care_team = "CareTeam/ward-2"
[[rules]]
type = "threshold"
id = "systolic"
measurement = "blood_pressure"
field = "systolic"
above = 180
hysteresis = 5
[[rules]]
type = "missed"
id = "bp-morning"
measurement = "blood_pressure"
due = 10:00:00
"""
SECRET = "bench-secret"


def config(folder: Path, **values: object) -> ApartmentConfig:
    (folder / "plan.toml").write_text(PLAN)
    return ApartmentConfig.load(
        apartment_id="bench",
        patient="Patient/p1",
        care_plan=folder / "plan.toml",
        data_dir=folder / "data",
        encryption_key=base64.b64encode(bytes(32)).decode(),
        devices=[
            {"address": "C0:FF:EE:00:00:01", "kind": "blood_pressure"},
            {"address": "C0:FF:EE:00:00:04", "kind": "scale"},
        ],
        **values,
    )


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def idle(seconds: float, interval_ms: float | None) -> dict[str, float]:
    """Bare scan, then the gateway, ``seconds`` each; devices advertise every ``interval_ms`` (None: off)."""
    with tempfile.TemporaryDirectory() as folder:
        async with BumbleBackend() as radio:
            if interval_ms is not None:
                await radio.add(VirtualBloodPressureCuff(advertising_interval_ms=interval_ms))
                await radio.add(VirtualWeightScale(advertising_interval_ms=interval_ms))
            # baseline: scanning alone
            start = cpu()
            async with DeviceManager(backend=radio) as manager:
                loop_end = time.monotonic() + seconds
                while time.monotonic() < loop_end:
                    async for _device in manager.scan(timeout=min(10.0, loop_end - time.monotonic())):
                        pass
            bare = cpu() - start
            async with Apartment(config(Path(folder), scan_window_s=10.0), ble_backend=radio) as apartment:
                start = cpu()
                task = asyncio.create_task(apartment.run())
                await asyncio.sleep(seconds)  # the measurement window itself
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                used = cpu() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"apartment_cores": used / seconds, "bare_cores": bare / seconds, "rss_mb": rss_mb}


async def week() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        clock = SimulatedClock(datetime(2026, 11, 23, 6, tzinfo=UTC))
        async with Apartment(config(Path(folder)), clock=clock) as apartment:
            start = cpu()
            for _ in range(7 * 24 * 60):
                clock.advance(timedelta(minutes=1))
                await apartment.check()
            used = cpu() - start
            alerts = len(apartment.monitor.alerts)
        # baseline: the bare monitor's own deadlines (Monitor.check) once per simulated minute
        now = datetime(2026, 11, 23, 6, tzinfo=UTC)
        monitor = Monitor(load_care_plan(Path(folder) / "plan.toml"), clock=lambda: now, since=now)
        start = cpu()
        for _ in range(7 * 24 * 60):
            now += timedelta(minutes=1)
            await monitor.check(now)
        bare = cpu() - start
    return {
        "week_cpu_s": used,
        "week_share": used / (7 * 86400),
        "bare_week_cpu_s": bare,
        "bare_week_share": bare / (7 * 86400),
        "missed_alerts": alerts,
    }


async def webhook(readings: int) -> dict[str, float]:
    received: list[float] = []

    def receiver(_request: httpx.Request) -> httpx.Response:
        received.append(time.perf_counter())
        return httpx.Response(204)

    def series(n: int) -> list[BloodPressure]:
        at = datetime(2026, 11, 23, 7, tzinfo=UTC)
        return [
            BloodPressure(
                systolic=120 + 70 * (i % 2 == 0), diastolic=90, measured_at=at + timedelta(minutes=i)
            )
            for i in range(n)
        ]

    async def timed(feed: object) -> list[float]:
        latencies = []
        for reading in series(readings):
            received.clear()
            start = time.perf_counter()
            await feed(reading)  # type: ignore[operator]
            assert len(received) == 1, "every reading raises or clears one alert"
            latencies.append((received[0] - start) * 1000)
        return latencies

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        sink = WebhookSink("https://ward.example/alerts", SECRET, http=http)
        with tempfile.TemporaryDirectory() as folder:
            cfg = config(Path(folder), webhook={"url": "https://ward.example/alerts", "secret": SECRET})
            plan = load_care_plan(cfg.care_plan)
            now = datetime(2026, 11, 23, 7, tzinfo=UTC)
            monitor = Monitor(plan, sinks=[sink], clock=lambda: now, since=now)
            bare = await timed(monitor.ingest)
            async with Apartment(cfg, http=http) as apartment:
                gateway = await timed(apartment.accept)

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[q - 1] if q < 100 else max(values)

    return {
        "bare_p50": statistics.median(bare),
        "bare_p99": p(bare, 99),
        "p50": statistics.median(gateway),
        "p99": p(gateway, 99),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readings", type=int, default=200)
    args = parser.parse_args()
    hook = await webhook(args.readings)
    print(
        f"reading -> webhook: p50 {hook['p50']:.2f} ms, p99 {hook['p99']:.2f} ms; bare monitor p50 "
        f"{hook['bare_p50']:.2f} ms, p99 {hook['bare_p99']:.2f} ms; "
        f"p99 ratio {hook['p99'] / hook['bare_p99']:.1f}x"
    )
    simulated = await week()
    print(
        f"simulated week: {simulated['week_cpu_s']:.1f} CPU s for 10080 checks = "
        f"{simulated['week_share'] * 100:.4f} % of one core "
        f"({simulated['missed_alerts']} missed-reading alerts); bare Monitor.check "
        f"{simulated['bare_week_cpu_s']:.1f} CPU s = {simulated['bare_week_share'] * 100:.5f} % "
        f"({simulated['week_cpu_s'] / max(simulated['bare_week_cpu_s'], 1e-9):.1f}x)",
        flush=True,
    )
    for label, interval in (
        ("devices advertising every 20 ms", 20.0),
        ("devices advertising every 1022.5 ms", 1022.5),
        ("devices quiet (not advertising)", None),
    ):
        real = await idle(args.seconds, interval)
        print(
            f"idle {args.seconds:g} s, {label}: apartment {real['apartment_cores'] * 100:.2f} % of one core, "
            f"bare scan {real['bare_cores'] * 100:.2f} % "
            f"({real['apartment_cores'] / max(real['bare_cores'], 1e-9):.2f}x); "
            f"peak RSS {real['rss_mb']:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
