"""The Monitor: alerts fire iff a rule's condition holds, once per condition; escalation; audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import BloodPressure, BodyWeight, HeartRate, OxygenSaturation, errors
from telemedroom.monitoring import (
    AlertEvent,
    AuditRecord,
    CarePlan,
    ListSink,
    Monitor,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def plan(*rules: dict[str, object], **extra: object) -> CarePlan:
    return CarePlan.parse(
        {
            "patient": "Patient/p1",
            "timezone": "Europe/Berlin",
            "care_team": "CareTeam/ward-3",
            "rules": list(rules),
            **extra,
        }
    )


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


# -- threshold rules: an independent oracle ------------------------------------------------


def threshold_oracle(
    values: list[float], above: float | None, below: float | None, hysteresis: float
) -> tuple[list[int], list[int]]:
    """Indices where an alert is raised and where it clears, written out plainly."""
    raised, cleared, active = [], [], False
    for i, v in enumerate(values):
        out = (above is not None and v > above) or (below is not None and v < below)
        back = (above is None or v <= above - hysteresis) and (below is None or v >= below + hysteresis)
        if not active and out:
            raised.append(i)
            active = True
        elif active and back:
            cleared.append(i)
            active = False
    return raised, cleared


@given(
    values=st.lists(st.integers(40, 260).map(float) | st.floats(40, 260, allow_nan=False), max_size=40),
    above=st.none() | st.integers(150, 200).map(float),
    below=st.none() | st.integers(70, 100).map(float),
    hysteresis=st.sampled_from([0.0, 2.0, 5.0, 12.5]),
)
def test_threshold_alert_fires_iff_the_condition_holds_once_per_episode(
    values: list[float], above: float | None, below: float | None, hysteresis: float
) -> None:
    if above is None and below is None:
        above = 180.0
    rule = {"type": "threshold", "id": "sys", "measurement": "blood_pressure", "field": "systolic"}
    rule |= {"hysteresis": hysteresis} | ({"above": above} if above is not None else {})
    rule |= {"below": below} if below is not None else {}
    sink = ListSink()
    monitor = Monitor(plan(rule), sinks=[sink], clock=lambda: T0)
    times = [T0 + timedelta(minutes=10 * i) for i in range(len(values))]

    async def feed() -> None:
        for at, v in zip(times, values, strict=True):
            await monitor.ingest(BloodPressure(systolic=v, diastolic=70, measured_at=at))
            await monitor.ingest(HeartRate(bpm=60, measured_at=at))  # another kind: never counts

    run(feed())
    raised, cleared = threshold_oracle(values, above, below, hysteresis)
    assert [times.index(a.raised_at) for a in monitor.alerts] == raised
    assert [times.index(a.cleared_at) for a in monitor.alerts if a.cleared_at] == cleared
    assert [a.value for a in monitor.alerts] == [values[i] for i in raised]
    # no duplicates: at most one alert of the rule is active at a time, the events alternate
    kinds = [e.type for e in sink.events]
    assert kinds == ["raised", "cleared"] * len(cleared) + ["raised"] * (len(raised) - len(cleared))
    assert sum(a.active for a in monitor.alerts) <= 1


def test_threshold_converts_kpa_readings_to_the_rule_unit() -> None:
    monitor = Monitor(plan({"type": "threshold", "id": "sys", "measurement": "blood_pressure",
                            "field": "systolic", "above": 180}), clock=lambda: T0)  # fmt: skip
    # 24.0 kPa is 180.01 mmHg, above 180; 23.9 kPa is 179.3 mmHg
    run(monitor.ingest(BloodPressure(systolic=23.9, diastolic=12, unit="kPa", measured_at=T0)))
    assert monitor.alerts == []
    run(monitor.ingest(BloodPressure(systolic=24.0, diastolic=12, unit="kPa", measured_at=T0)))
    assert monitor.alerts[0].value == pytest.approx(180.0148, abs=1e-4)
    assert monitor.alerts[0].message == "systolic blood pressure 180 mmHg is above 180"  # the display unit


def test_intermediate_cuff_pressure_and_missing_values_are_ignored() -> None:
    monitor = Monitor(plan({"type": "threshold", "id": "sys", "measurement": "blood_pressure",
                            "field": "systolic", "above": 180}), clock=lambda: T0)  # fmt: skip
    run(monitor.ingest(BloodPressure(systolic=220, diastolic=None, intermediate=True, measured_at=T0)))
    run(monitor.ingest(BloodPressure(systolic=None, diastolic=None, status=frozenset({"value_nan"}))))
    assert monitor.alerts == []


# -- trend rules ---------------------------------------------------------------------------


def trend_oracle(
    times: list[datetime], values: list[float], rise: float, within: timedelta, hysteresis: float
) -> list[int]:
    raised, active = [], False
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        lowest = min(values[j] for j in range(i + 1) if t - within <= times[j])
        gained = v - lowest
        if not active and gained > rise:
            raised.append(i)
            active = True
        elif active and gained <= rise - hysteresis:
            active = False
    return raised


@given(
    steps=st.lists(
        st.tuples(st.integers(1, 60), st.integers(-15, 15)),  # (hours later, change in 100 g)
        max_size=30,
    ),
    hysteresis=st.sampled_from([0.0, 0.5]),
)
def test_weight_gain_alert_fires_iff_more_than_2_kg_within_3_days(
    steps: list[tuple[int, int]], hysteresis: float
) -> None:
    monitor = Monitor(
        plan(
            {
                "type": "trend",
                "id": "gain",
                "measurement": "body_weight",
                "field": "value",
                "rise": 2,
                "within": "P3D",
                "hysteresis": hysteresis,
            }
        ),
        clock=lambda: T0,
    )
    times, values = [T0], [80.0]
    for hours, grams in steps:
        times.append(times[-1] + timedelta(hours=hours))
        values.append(round(values[-1] + grams / 10, 1))

    async def feed() -> None:
        for at, kg in zip(times, values, strict=True):
            await monitor.ingest(BodyWeight(value=kg, measured_at=at))

    run(feed())
    expected = trend_oracle(times, values, 2.0, timedelta(days=3), hysteresis)
    assert [times.index(a.raised_at) for a in monitor.alerts] == expected
    assert all(a.value is not None and a.value > 2 for a in monitor.alerts)


def test_trend_message_and_pound_readings() -> None:
    monitor = Monitor(
        plan(
            {
                "type": "trend",
                "id": "gain",
                "measurement": "body_weight",
                "field": "value",
                "rise": 2,
                "within": "P3D",
            }
        ),
        clock=lambda: T0,
    )
    run(monitor.ingest(BodyWeight(value=176.0, unit="[lb_av]", measured_at=T0)))  # 79.83 kg
    run(monitor.ingest(BodyWeight(value=82.0, measured_at=T0 + timedelta(days=2))))
    [alert] = monitor.alerts
    assert alert.message == "body weight rose by 2.2 kg within 3 days (now 82 kg)"
    assert alert.value == pytest.approx(82.0 - 176.0 * 0.45359237)


# -- missed measurements across DST --------------------------------------------------------


def first_instant_showing(day: date, due: time) -> datetime:
    """The first UTC minute whose Berlin wall clock shows ``due`` or later on ``day`` (brute force)."""
    guess = datetime.combine(day, due, tzinfo=UTC) - timedelta(hours=3)
    for minute in range(6 * 60):
        at = guess + timedelta(minutes=minute)
        local = at.astimezone(BERLIN)
        if (local.date(), local.time()) >= (day, due):
            return at
    raise AssertionError("not found")


@given(
    first=st.sampled_from([date(2026, 3, 27), date(2026, 10, 23), date(2026, 11, 23)]),
    due=st.sampled_from([time(10), time(2, 30), time(2), time(3), time(0, 15), time(23, 59)])
    | st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    readings=st.lists(st.integers(0, 5 * 24 * 60 - 1), max_size=12, unique=True).map(sorted),
)
def test_missed_measurement_alert_fires_iff_no_reading_by_the_local_deadline(
    first: date, due: time, readings: list[int]
) -> None:
    start = datetime.combine(first, time(0), tzinfo=BERLIN)
    end = start.astimezone(UTC) + timedelta(days=5)
    taken = [start.astimezone(UTC) + timedelta(minutes=m) for m in readings]
    monitor = Monitor(
        plan({"type": "missed", "id": "bp", "measurement": "blood_pressure", "due": due.isoformat()}),
        clock=lambda: end,
        since=start,
    )

    async def feed() -> None:
        for at in taken:
            await monitor.ingest(BloodPressure(systolic=120, diastolic=80, measured_at=at))
            await monitor.check(at)
        await monitor.check(end)

    run(feed())
    expected = []
    for offset in range(6):
        day = first + timedelta(days=offset)
        cutoff = first_instant_showing(day, due)
        if not start < cutoff <= end:
            continue
        on_time = [t for t in taken if t.astimezone(BERLIN).date() == day and t <= cutoff]
        if not on_time:
            late = [t for t in taken if t > cutoff]
            expected.append((day.isoformat(), cutoff, late[0] if late else None))
    got = [(a.condition.split("@")[1], a.raised_at, a.cleared_at) for a in monitor.alerts]
    assert got == expected
    assert len({a.condition for a in monitor.alerts}) == len(monitor.alerts)  # one alert per day


def test_ten_o_clock_is_wall_clock_time_on_both_dst_days() -> None:
    for day, utc_hour in ((date(2026, 3, 29), 8), (date(2026, 10, 25), 9), (date(2026, 3, 28), 9)):
        since = datetime.combine(day, time(0), tzinfo=BERLIN)
        rule = {"type": "missed", "id": "bp", "measurement": "blood_pressure", "due": "10:00"}
        monitor = Monitor(plan(rule), since=since, clock=lambda start=since: start)
        run(monitor.check(datetime.combine(day, time(utc_hour - 1, 59), tzinfo=UTC)))
        assert monitor.alerts == []
        run(monitor.check(datetime.combine(day, time(utc_hour, 0), tzinfo=UTC)))
        [alert] = monitor.alerts
        assert alert.raised_at.astimezone(BERLIN).time() == time(10)
        assert alert.message == f"no blood pressure reading by 10:00 on {day}"


def test_a_deadline_before_the_monitor_started_is_not_an_alert() -> None:
    since = datetime(2026, 11, 23, 11, 0, tzinfo=BERLIN)
    monitor = Monitor(plan({"type": "missed", "id": "bp", "measurement": "blood_pressure", "due": "10:00"}),
                      since=since, clock=lambda: since)  # fmt: skip
    run(monitor.check(datetime(2026, 11, 23, 23, 0, tzinfo=BERLIN)))
    assert monitor.alerts == []
    assert monitor.next_deadline() == datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)


# -- escalation, acknowledgement, audit ----------------------------------------------------


def escalating_monitor(audit: list[AuditRecord], sink: ListSink) -> Monitor:
    return Monitor(
        plan(
            {
                "type": "threshold",
                "id": "spo2",
                "measurement": "oxygen_saturation",
                "field": "spo2_percent",
                "below": 92,
                "severity": "high",
            },
            escalation=[
                {"after": "PT15M", "to": "PractitionerRole/on-call-nurse"},
                {"after": "PT45M", "to": "PractitionerRole/on-call-physician"},
            ],
        ),
        sinks=[sink],
        audit=audit.append,
        clock=lambda: T0,
    )


def test_unacknowledged_alert_escalates_step_by_step_then_stops_when_acknowledged() -> None:
    audit: list[AuditRecord] = []
    sink = ListSink()
    monitor = escalating_monitor(audit, sink)

    async def story() -> None:
        await monitor.ingest(OxygenSaturation(spo2_percent=89, measured_at=T0))
        assert monitor.next_deadline() == T0 + timedelta(minutes=15)
        await monitor.check(T0 + timedelta(minutes=14))
        await monitor.check(T0 + timedelta(minutes=15))
        alert = monitor.alerts[0]
        await monitor.acknowledge(alert.id, by="Practitioner/nurse-anna", at=T0 + timedelta(minutes=20))
        await monitor.acknowledge(alert.id, by="Practitioner/someone-else")  # the first one stays
        await monitor.check(T0 + timedelta(hours=5))

    run(story())
    assert [(e.type, e.recipient) for e in sink.events] == [
        ("raised", "CareTeam/ward-3"),
        ("escalated", "PractitionerRole/on-call-nurse"),
        ("acknowledged", "CareTeam/ward-3"),
    ]
    alert = monitor.alerts[0]
    assert (alert.escalation_level, alert.acknowledged_by) == (1, "Practitioner/nurse-anna")
    assert monitor.next_deadline() is None
    assert [(r.action, r.actor, r.detail.get("level")) for r in audit] == [
        ("alert_raised", "monitor", None),
        ("alert_escalated", "monitor", "1"),
        ("alert_acknowledged", "Practitioner/nurse-anna", None),
    ]
    assert audit[0].detail == {"rule": "spo2", "condition": "oxygen_saturation.spo2_percent",
                               "recipient": "CareTeam/ward-3", "value": "89 %"}  # fmt: skip
    assert all(r.alert_id == alert.id and r.patient == "Patient/p1" for r in audit)


def test_a_late_check_escalates_through_every_step_due() -> None:
    audit: list[AuditRecord] = []
    sink = ListSink()
    monitor = escalating_monitor(audit, sink)
    run(monitor.ingest(OxygenSaturation(spo2_percent=85, measured_at=T0)))
    run(monitor.check(T0 + timedelta(hours=2)))
    assert [(e.type, e.at - T0) for e in sink.events][1:] == [
        ("escalated", timedelta(minutes=15)),
        ("escalated", timedelta(minutes=45)),
    ]
    assert monitor.alerts[0].escalation_level == 2


def test_acknowledging_an_unknown_alert_is_a_typed_error() -> None:
    monitor = escalating_monitor([], ListSink())
    with pytest.raises(errors.UnknownAlert) as info:
        run(monitor.acknowledge("nope", by="x"))
    assert info.value.alert_id == "nope"
    assert isinstance(info.value, errors.MonitoringError)


class FailingSink:
    async def deliver(self, event: AlertEvent) -> None:
        raise errors.WebhookDeliveryError("https://care.example/hook", 3, 503, "unavailable")


def test_a_failing_sink_does_not_stop_the_others_and_is_recorded() -> None:
    audit: list[AuditRecord] = []
    sink = ListSink()
    monitor = Monitor(escalating_monitor([], sink).plan, sinks=[FailingSink(), sink], audit=audit.append,
                      clock=lambda: T0)  # fmt: skip
    run(monitor.ingest(OxygenSaturation(spo2_percent=85, measured_at=T0)))
    assert [e.type for e in sink.events] == ["raised"]
    [failure] = monitor.failures
    assert isinstance(failure.error, errors.WebhookDeliveryError)
    assert failure.event is sink.events[0]
    assert len(audit) == 1


# -- run(): any async iterator of measurements ---------------------------------------------


def test_run_consumes_an_async_iterator_and_checks_deadlines_at_the_end() -> None:
    now = [datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)]
    monitor = Monitor(
        plan(
            {"type": "missed", "id": "weigh", "measurement": "body_weight", "due": "09:00"},
            {"type": "threshold", "id": "hr", "measurement": "heart_rate", "field": "bpm", "above": 120},
        ),
        clock=lambda: now[0],
    )

    async def readings() -> AsyncIterator[HeartRate]:
        for bpm in (80, 130, 125, 90):
            yield HeartRate(bpm=bpm, measured_at=now[0])
        now[0] = datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)  # time passes before the source ends

    run(monitor.run(readings()))
    alerts = sorted(monitor.alerts, key=lambda a: a.raised_at)
    assert [(a.rule_id, a.active) for a in alerts] == [("hr", False), ("weigh", True)]
    assert alerts[1].raised_at == datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)


def test_run_passes_on_the_sources_error() -> None:
    monitor = Monitor(plan({"type": "threshold", "id": "hr", "measurement": "heart_rate", "field": "bpm",
                            "above": 120}), clock=lambda: T0)  # fmt: skip

    async def broken() -> AsyncIterator[HeartRate]:
        yield HeartRate(bpm=130, measured_at=T0)
        raise errors.DeviceConnectionError("C0:FF:EE:00:00:01", "link lost")

    with pytest.raises(errors.DeviceConnectionError):
        run(monitor.run(broken()))
    assert len(monitor.alerts) == 1


@given(
    afters=st.lists(st.integers(1, 240), min_size=1, max_size=4, unique=True).map(sorted),
    ack_after=st.none() | st.integers(0, 300),
    checks=st.lists(st.integers(0, 360), max_size=8).map(sorted),
)
def test_escalation_reaches_exactly_the_steps_due_before_acknowledgement(
    afters: list[int], ack_after: int | None, checks: list[int]
) -> None:
    steps = [{"after": f"PT{m}M", "to": f"PractitionerRole/step-{i}"} for i, m in enumerate(afters)]
    sink = ListSink()
    monitor = Monitor(
        plan({"type": "threshold", "id": "hr", "measurement": "heart_rate", "field": "bpm", "above": 120},
             escalation=steps),
        sinks=[sink],
        clock=lambda: T0,
    )  # fmt: skip

    async def story() -> None:
        await monitor.ingest(HeartRate(bpm=150, measured_at=T0))
        acknowledged = False
        for minute in checks:
            if ack_after is not None and not acknowledged and ack_after <= minute:
                await monitor.check(T0 + timedelta(minutes=ack_after))  # what was due before it
                await monitor.acknowledge(
                    monitor.alerts[0].id, by="Practitioner/x", at=T0 + timedelta(minutes=ack_after)
                )
                acknowledged = True
            await monitor.check(T0 + timedelta(minutes=minute))

    run(story())
    last_check = max(checks, default=0)
    horizon = last_check if ack_after is None or ack_after > last_check else ack_after
    expected = [f"PractitionerRole/step-{i}" for i, m in enumerate(afters) if m <= horizon]
    escalated = [e for e in sink.events if e.type == "escalated"]
    assert [e.recipient for e in escalated] == expected
    assert [e.at for e in escalated] == [T0 + timedelta(minutes=m) for m in afters[: len(expected)]]
    assert monitor.alerts[0].escalation_level == len(expected)


def test_a_reading_from_a_clock_far_ahead_does_not_wipe_the_history() -> None:
    monitor = Monitor(plan({"type": "trend", "id": "gain", "measurement": "body_weight", "field": "value",
                            "rise": 2, "within": "P3D"}), clock=lambda: T0)  # fmt: skip
    run(monitor.ingest(BodyWeight(value=80, measured_at=T0)))
    run(monitor.ingest(BodyWeight(value=81, measured_at=T0.replace(year=2084))))  # device clock never set
    assert [v for _t, v in monitor.series("body_weight", "value")] == [80, 81]
    run(monitor.ingest(BodyWeight(value=82.5, measured_at=T0 + timedelta(days=1))))
    assert [a.value for a in monitor.alerts] == [2.5]
