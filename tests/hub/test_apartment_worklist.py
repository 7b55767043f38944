"""Health apartments on the physicians' worklist and in ``/metrics``, without a database.

The rows come from ``Heartbeat`` reports as the hub keeps them after verifying them; the
whole path with the real hub, PostgreSQL, Glewlwyd and a real apartment is in
``tests/hub/test_worklist_apartments.py``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from tests._hypothesis import at_most

from telemedroom.hub import AlertSettings, RoomKey, RoomStatus
from telemedroom.hub._apartment_worklist import ApartmentItem, apartment_items, merge, rank
from telemedroom.hub._apartments import apartment_metrics, apartment_view
from telemedroom.hub._worklist import RANKS, WorklistItem, worklist
from telemedroom.session.heartbeat import Heartbeat

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)
SETTINGS = AlertSettings(offline_after_s=30)


def beat(room: str, *, kind: str = "apartment", **fields: object) -> Heartbeat:
    return Heartbeat.model_validate(
        {
            "room": room,
            "boot": "b",
            "sequence": 0,
            "sent_at": NOW,
            "version": "test",
            "state": "watching",
            "kind": kind,
            **fields,
        }
    )


def alert(rule: str, severity: str, *, minutes_ago: float = 5, acknowledged: bool = False) -> dict[str, Any]:
    return {
        "id": f"id-{rule}",
        "rule": rule,
        "severity": severity,
        "raised_at": NOW - timedelta(minutes=minutes_ago),
        "acknowledged": acknowledged,
    }


def keys(*ids: str) -> list[RoomKey]:
    return [RoomKey(id=i, name=f"Wohnung {i}", public_key_file=Path("k.pem")) for i in ids]


def test_calling_alerts_and_silence_put_an_apartment_on_the_worklist_with_why() -> None:
    statuses = {
        "calling": RoomStatus(
            beat("calling", state="calling", waiting_since=NOW - timedelta(minutes=2)),
            NOW - timedelta(seconds=3),
        ),
        "high": RoomStatus(
            beat(
                "high",
                alerts=[
                    alert("systolic", "high", minutes_ago=10),
                    alert("weight-gain", "moderate", minutes_ago=60),
                    alert("spo2", "high", minutes_ago=30, acknowledged=True),
                ],
            ),
            NOW - timedelta(seconds=3),
        ),
        "seen": RoomStatus(beat("seen", alerts=[alert("pulse", "high", acknowledged=True)]), NOW),
        "quiet": RoomStatus(beat("quiet"), NOW - timedelta(seconds=29)),
        # its last heartbeat said "calling", then it went silent: offline, not calling
        "gone": RoomStatus(
            beat("gone", state="calling", waiting_since=NOW - timedelta(minutes=9)),
            NOW - timedelta(minutes=5),
        ),
    }
    rows = apartment_items(keys("quiet", "gone", "high", "seen", "calling", "never"), statuses, SETTINGS, NOW)
    assert [row.apartment for row in rows] == ["calling", "high", "gone"]
    calling, high, gone = rows
    assert (calling.reasons, calling.calling_since, calling.rank) == (
        ("calling",),
        NOW - timedelta(minutes=2),
        RANKS["waiting"],
    )
    assert high.reasons == ("alert",)
    assert (high.highest, high.since) == ("high", NOW - timedelta(minutes=10))  # the oldest high one
    assert [rule for rule, _s, _a in high.alerts] == ["systolic", "weight-gain"]  # acknowledged: left out
    assert (gone.reasons, gone.calling_since, gone.offline_since) == (
        ("offline",),
        None,
        NOW - timedelta(minutes=5),
    )
    data = high.as_dict()
    assert data == {
        "kind": "apartment",
        "apartment": "high",
        "name": "Wohnung high",
        "reasons": ["alert"],
        "state": "watching",
        "calling_since": None,
        "open_alerts": 2,
        "highest_severity": "high",
        "alerts": [
            {"rule": "systolic", "severity": "high", "raised_at": (NOW - timedelta(minutes=10)).isoformat()},
            {
                "rule": "weight-gain",
                "severity": "moderate",
                "raised_at": (NOW - timedelta(minutes=60)).isoformat(),
            },
        ],
        "offline_since": None,
        "last_contact": (NOW - timedelta(seconds=3)).isoformat(),
        "link": "/ward/apartments#apartment-high",
    }


def test_an_apartment_calling_with_a_full_disk_is_still_calling() -> None:
    status = RoomStatus(beat("apt", state="storage_full", waiting_since=NOW - timedelta(minutes=1)), NOW)
    (row,) = apartment_items(keys("apt"), {"apt": status}, SETTINGS, NOW)
    assert row.reasons == ("calling",)
    assert row.state == "storage_full"


def test_an_older_apartment_in_a_call_is_not_taken_for_calling() -> None:
    """An apartment of before ``calling`` reported ``in_call`` and no ``waiting_since``."""
    status = RoomStatus(beat("apt", state="in_call"), NOW)
    assert apartment_items(keys("apt"), {"apt": status}, SETTINGS, NOW) == []


def test_a_calling_apartment_ranks_with_the_waiting_patients_by_how_long_they_wait() -> None:
    start = NOW - timedelta(hours=1)
    appointments = [
        {"id": f"a{i}", "service_id": "gp-20", "start_at": start, "resource_ids": [room], "status": "arrived"}
        for i, room in enumerate(("nord-1", "sued-2", "west-3"))
    ]
    rooms = {
        "nord-1": RoomStatus(
            beat(
                "nord-1",
                kind="room",
                state="waiting",
                appointment_id="a0",
                waiting_since=NOW - timedelta(minutes=9),
            ),
            NOW,
        ),
        "sued-2": RoomStatus(
            beat(
                "sued-2",
                kind="room",
                state="waiting",
                appointment_id="a1",
                waiting_since=NOW - timedelta(minutes=1),
            ),
            NOW,
        ),
        "west-3": RoomStatus(beat("west-3", kind="room", state="measuring", appointment_id="a2"), NOW),
    }
    visits = worklist(appointments, set(rooms), rooms)
    apartments = apartment_items(
        keys("apt-call", "apt-high", "apt-low"),
        {
            "apt-call": RoomStatus(
                beat("apt-call", state="calling", waiting_since=NOW - timedelta(minutes=4)), NOW
            ),
            "apt-high": RoomStatus(beat("apt-high", alerts=[alert("systolic", "high")]), NOW),
            "apt-low": RoomStatus(beat("apt-low", alerts=[alert("battery-low", "low")]), NOW),
        },
        SETTINGS,
        NOW,
    )
    order = [
        row.apartment if isinstance(row, ApartmentItem) else row.room for row in merge(visits, apartments)
    ]
    assert order == ["nord-1", "apt-call", "sued-2", "apt-high", "west-3", "apt-low"]


# -- the order, as a property -------------------------------------------------------------------

_LIVE = st.sampled_from(["", "waiting", "in_consultation", "measuring", "checked_in", "wrap_up"])
_MINUTES = st.integers(min_value=0, max_value=600)


@st.composite
def visits(draw: st.DrawFn) -> list[WorklistItem]:
    count = draw(st.integers(min_value=0, max_value=8))
    appointments, statuses = [], {}
    for i in range(count):
        room = f"room-{i}"
        appointments.append(
            {
                "id": f"v{i}",
                "service_id": "gp-20",
                "start_at": NOW - timedelta(minutes=draw(_MINUTES)),
                "resource_ids": [room],
                "status": "booked",
            }
        )
        live = draw(_LIVE)
        if live:
            since = (
                NOW - timedelta(minutes=draw(_MINUTES)) if live == "waiting" and draw(st.booleans()) else None
            )
            statuses[room] = RoomStatus(
                beat(room, kind="room", state=live, appointment_id=f"v{i}", waiting_since=since), NOW
            )
    return worklist(appointments, {f"room-{i}" for i in range(count)}, statuses)


@st.composite
def apartments(draw: st.DrawFn) -> list[ApartmentItem]:
    count = draw(st.integers(min_value=0, max_value=8))
    statuses = {}
    for i in range(count):
        name = f"apt-{i}"
        since = NOW - timedelta(minutes=draw(_MINUTES)) if draw(st.booleans()) else None
        raised = draw(
            st.lists(
                st.tuples(st.sampled_from(["low", "moderate", "high"]), _MINUTES, st.booleans()), max_size=4
            )
        )
        statuses[name] = RoomStatus(
            beat(
                name,
                state="calling" if since else "watching",
                waiting_since=since,
                alerts=[
                    alert(f"r{j}", s, minutes_ago=m, acknowledged=a) for j, (s, m, a) in enumerate(raised)
                ],
            ),
            NOW - timedelta(seconds=draw(st.sampled_from([1, 29, 31, 3600]))),
        )
    return apartment_items(keys(*statuses), statuses, SETTINGS, NOW)


def _since(row: WorklistItem | ApartmentItem) -> datetime | None:
    return row.since if isinstance(row, ApartmentItem) else row.waiting_since or row.start


@at_most(400)  # ~13 ms an example (two lists of rows, sorted and checked pairwise); 8 ranks
@given(visits(), apartments())
def test_the_merged_order_is_by_rank_then_the_longest_wait(
    rooms: list[WorklistItem], homes: list[ApartmentItem]
) -> None:
    rows = merge(rooms, homes)
    assert sorted(map(id, rows)) == sorted(map(id, [*rooms, *homes]))  # nothing lost, nothing twice
    ranks = [rank(row) for row in rows]
    assert ranks == sorted(ranks)
    for before, after in itertools.pairwise(rows):
        if rank(before) == rank(after):
            first, second = _since(before), _since(after)
            assert first is not None
            assert second is not None
            assert first <= second  # within a rank, the longest wait (oldest alert, silence) first
    # the rooms keep the worklist's own order, the apartments theirs
    assert [row for row in rows if isinstance(row, WorklistItem)] == rooms
    assert [row for row in rows if isinstance(row, ApartmentItem)] == homes
    # a patient calling the ward comes before anything but the other waiting patients
    for position, row in enumerate(rows):
        if isinstance(row, ApartmentItem) and "calling" in row.reasons:
            assert all(rank(other) == RANKS["waiting"] for other in rows[:position])
        if isinstance(row, ApartmentItem) and row.highest == "high":
            assert all(rank(other) <= RANKS["alert_high"] for other in rows[:position])


# -- /metrics ---------------------------------------------------------------------------------


def test_the_apartment_metrics_parse_as_prometheus_text_and_carry_no_patient_data() -> None:
    statuses = {
        "apt-1": RoomStatus(
            beat(
                "apt-1",
                state="calling",
                waiting_since=NOW - timedelta(minutes=1),
                outbox_backlog=4,
                alerts=[alert("systolic", "high"), alert("weight-gain", "moderate", acknowledged=True)],
            ),
            NOW - timedelta(seconds=12),
        ),
        "apt-2": RoomStatus(beat("apt-2", alerts=[alert("systolic", "high")]), NOW - timedelta(minutes=10)),
    }
    rows = apartment_view(keys("apt-1", "apt-2", "apt-3"), statuses, SETTINGS, NOW)
    text = "\n".join(apartment_metrics(rows, NOW)) + "\n"
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert {family.type for family in families.values()} == {"gauge"}
    assert samples[("telemedroom_hub_apartments", (("state", "online"),))] == 1
    assert samples[("telemedroom_hub_apartments", (("state", "offline"),))] == 2  # silent, and never reported
    assert samples[("telemedroom_hub_apartments_calling", ())] == 1
    open_alerts = "telemedroom_hub_apartment_open_alerts"
    assert samples[(open_alerts, (("acknowledged", "false"), ("severity", "high")))] == 2
    assert samples[(open_alerts, (("acknowledged", "true"), ("severity", "moderate")))] == 1
    assert samples[(open_alerts, (("acknowledged", "false"), ("severity", "low")))] == 0
    contact = "telemedroom_hub_apartment_last_contact_seconds"
    assert samples[(contact, (("apartment", "apt-1"),))] == 12
    assert samples[(contact, (("apartment", "apt-2"),))] == 600
    assert (contact, (("apartment", "apt-3"),)) not in samples  # never reported: no last contact
    assert samples[("telemedroom_hub_apartment_outbox_backlog", (("apartment", "apt-1"),))] == 4
    labels = {value for _name, pairs in samples for _key, value in pairs}
    assert labels <= {"online", "offline", "low", "moderate", "high", "true", "false", "apt-1", "apt-2"}
    assert "systolic" not in text  # rule ids stay on the staff pages
