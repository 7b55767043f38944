"""The hash-chained audit log: alterations, removals, reorderings and truncation are found."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.errors import AuditIntegrityError
from telemedroom.session import AuditAction, AuditLog

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
VISIT = [
    (AuditAction.TOKEN_ISSUED, "booking", "system", {"token": "t-1"}),
    (AuditAction.JOINED, "dr-weber", "physician", {"participant": "ph-1"}),
    (AuditAction.JOINED, "p-7", "patient", {"participant": "pa-1"}),
    (AuditAction.ADMITTED, "dr-weber", "physician", {"participant": "pa-1"}),
    (AuditAction.TRACK_STARTED, "pa-1", "patient", {"track": "room_camera"}),
    (AuditAction.SNAPSHOT, "pa-1", "patient", {"media_type": "image/png"}),
    (AuditAction.ENDED, "dr-weber", "physician", {"participant": "ph-1"}),
]


def visit_log(path: Path | None = None) -> AuditLog:
    log = AuditLog(path)
    for minute, (action, actor, role, detail) in enumerate(VISIT):
        log.append(
            action,
            actor=actor,
            role=role,
            room="quarter-1",
            appointment="apt-42",
            detail=detail,
            at=T0 + timedelta(minutes=minute),
        )
    return log


def broken_at(entries: list) -> int:  # type: ignore[type-arg]
    with pytest.raises(AuditIntegrityError) as info:
        AuditLog.from_entries(entries).verify()
    return info.value.index


def test_an_untouched_chain_verifies_and_links_each_entry_to_the_one_before() -> None:
    log = visit_log()
    log.verify(head=log.head)
    entries = list(log)
    assert [e.index for e in entries] == list(range(len(VISIT)))
    assert entries[0].previous == "0" * 64
    assert all(b.previous == a.hash for a, b in itertools.pairwise(entries))
    assert len({e.hash for e in entries}) == len(entries)


def test_an_altered_entry_is_found_where_it_is() -> None:
    entries = list(visit_log())
    entries[3] = entries[3].model_copy(update={"detail": {"participant": "pa-2"}})
    assert broken_at(entries) == 3


def test_rehashing_an_altered_entry_breaks_the_next_link() -> None:
    entries = list(visit_log())
    forged = entries[3].model_copy(update={"actor": "dr-evil"})
    entries[3] = forged.model_copy(update={"hash": forged.computed_hash()})
    assert broken_at(entries) == 4


def test_a_removed_entry_is_found() -> None:
    entries = list(visit_log())
    del entries[2]
    assert broken_at(entries) == 2


def test_reordered_entries_are_found() -> None:
    entries = list(visit_log())
    entries[4], entries[5] = entries[5], entries[4]
    assert broken_at(entries) == 4


def test_entries_cut_off_the_end_are_found_with_an_anchored_head() -> None:
    log = visit_log()
    head = log.head
    shortened = AuditLog.from_entries(list(log)[:-2])
    shortened.verify()  # the chain alone cannot tell
    with pytest.raises(AuditIntegrityError, match="cut off"):
        shortened.verify(head=head)


@given(
    st.integers(min_value=0, max_value=len(VISIT) - 1),
    st.sampled_from(["actor", "role", "room", "appointment", "at", "action", "detail"]),
)
def test_any_changed_field_of_any_entry_is_found(position: int, field: str) -> None:
    entries = list(visit_log())
    changed: dict[str, object] = {
        "actor": "x",
        "role": "companion",
        "room": "quarter-9",
        "appointment": "apt-0",
        "at": T0 - timedelta(days=1),
        "action": AuditAction.DENIED,
        "detail": {"participant": "someone-else"},
    }
    entries[position] = entries[position].model_copy(update={field: changed[field]})
    assert broken_at(entries) == position


def test_the_file_is_append_only_and_reopened_logs_continue_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = visit_log(path)
    assert len(path.read_text().splitlines()) == len(VISIT)
    again = AuditLog(path)
    entry = again.append(
        AuditAction.LEFT, actor="p-7", role="patient", room="quarter-1", appointment="apt-42"
    )
    assert entry.index == len(VISIT)
    assert entry.previous == log.head
    AuditLog(path).verify()


def test_a_tampered_file_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    visit_log(path)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["actor"] = "dr-evil"
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditIntegrityError) as info:
        AuditLog(path)
    assert info.value.index == 1
    path.write_text("not json\n")
    with pytest.raises(AuditIntegrityError, match="not an audit entry"):
        AuditLog(path)


def test_fhir_export_is_valid_r4b_and_carries_the_chain() -> None:
    log = visit_log()
    events = log.to_fhir(observer="Device/signaling-1")
    assert len(events) == len(VISIT)
    for entry, event in zip(log, events, strict=True):
        again = AuditEvent.model_validate(json.loads(event.model_dump_json()))
        assert again.recorded == entry.at
        assert again.subtype[0].code == entry.action.value
        assert again.type.system == "http://dicom.nema.org/resources/ontology/DCM"
        assert again.source.observer.reference == "Device/signaling-1"
        details = {d.type: d.valueString for d in again.entity[0].detail}
        assert details["hash"] == entry.hash
        assert details["previous"] == entry.previous
        assert details["appointment"] == "apt-42"
    refused = AuditLog()
    refused.append(AuditAction.TOKEN_REFUSED, actor="unknown", role="unknown", room="r", appointment="a")
    assert refused.to_fhir()[0].outcome == "4"


def test_entries_must_have_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditLog().append(
            AuditAction.JOINED, actor="a", role="patient", room="r", appointment="a", at=datetime(2026, 1, 1)
        )
