"""The visit's state machine: the table, illegal steps, check-in refusals, random sequences."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from tests.room.conftest import make_config

from telemedroom import CheckInRefused, RoomStateError
from telemedroom.room import ABORTABLE, TRANSITIONS, Room, RoomState, next_state
from telemedroom.scheduling import Slot
from telemedroom.session.peer import PhysicianPeer

T = TypeVar("T")
S = RoomState


def test_the_table_is_one_cycle_through_every_state() -> None:
    forward = ["check_in", "measure", "measured", "admit", "end", "wrapped", "cleaned"]
    state, seen = S.IDLE, [S.IDLE]
    for action in forward:
        state = next_state(state, action)  # type: ignore[arg-type]
        seen.append(state)
    assert seen == [
        S.IDLE,
        S.CHECKED_IN,
        S.MEASURING,
        S.WAITING,
        S.IN_CONSULTATION,
        S.WRAP_UP,
        S.CLEANING,
        S.IDLE,
    ]
    assert {to for (_, _), to in TRANSITIONS.items()} == set(RoomState)


def test_abort_is_allowed_exactly_before_wrap_up() -> None:
    assert {state for (state, action) in TRANSITIONS if action == "abort"} == ABORTABLE
    for state in (S.IDLE, S.WRAP_UP, S.CLEANING):
        with pytest.raises(RoomStateError) as info:
            next_state(state, "abort")
        assert info.value.state == state.value


async def test_illegal_steps_raise_and_change_nothing(data_dir: Path) -> None:
    async with Room(make_config(data_dir, [])) as room:
        events = room.events()
        assert (await anext(events)).type == "state"
        for call, action in [
            (room.measure(), "measure"),
            (room.wait_for_physician(timeout=1), "wait_for_physician"),
            (room.take_snapshot(), "take_snapshot"),
            (room.end_consultation(), "end_consultation"),
            (room.abort("test"), "abort"),
        ]:
            with pytest.raises(RoomStateError) as info:
                await call
            assert info.value.state == "idle"
            assert info.value.action == action
        assert room.state is S.IDLE
        appointment = await room.book_walk_in("pat-1")
        await room.check_in(appointment.booking_code)
        with pytest.raises(RoomStateError):
            await room.end_consultation()
        assert room.state is S.CHECKED_IN
        with pytest.raises(CheckInRefused) as refused:
            await room.check_in(appointment.booking_code)
        assert refused.value.reason == "busy"
        assert room.state is S.CHECKED_IN
        assert [e.type for e in [await anext(events) for _ in range(3)]] == [
            "state",
            "checked_in",
            "check_in_rejected",
        ]


async def test_check_in_refusals_say_why_without_the_code(data_dir: Path) -> None:
    async with Room(make_config(data_dir, [])) as room:
        events = room.events()
        await anext(events)
        assert room.scheduler is not None
        later = room.scheduler.clock().replace(second=0, microsecond=0) + timedelta(hours=3)
        tomorrow = await room.scheduler.book(
            Slot(service_id="walk-in", start=later, end=later + timedelta(minutes=20),
                 resource_ids=("test-room", "on-call-physician")),
            "pat-1",
            idempotency_key="k1",
        )  # fmt: skip
        with pytest.raises(CheckInRefused) as info:
            await room.check_in(tomorrow.booking_code)
        assert info.value.reason == "not_now"
        reasons = []
        for attempt in range(6):
            with pytest.raises(CheckInRefused) as info:
                await room.check_in(f"WRNG-CD{attempt:02d}")
            reasons.append(info.value.reason)
        assert reasons == ["unknown_code"] * 5 + ["too_many_attempts"]
        rejected = [await anext(events) for _ in range(7)]
        assert [e.reason for e in rejected] == ["not_now", *reasons]  # type: ignore[union-attr]
        assert room.state is S.IDLE
        assert room.audit is not None
        refused = [e for e in room.audit if e.action.value == "check_in_refused"]
        assert len(refused) == 7
        assert all("WRNG" not in str(e.detail) for e in refused)


class VisitMachine(RuleBasedStateMachine):
    """Random sequences of the room's public steps against a model of the transition table.

    A real Room (embedded signaling, synthetic cameras, no Bluetooth devices so a
    measurement is instant) and a scripted PhysicianPeer that admits; every step is
    tried in every state, legal or not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp())
        self.room = Room(make_config(self.folder / "room", []))
        self.run(self.room.__aenter__())
        self.model = S.IDLE
        self.wrapped = 0
        self.wrong_codes = 0  # the room refuses every code after five wrong ones
        self.doctor: PhysicianPeer | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self._close())
        finally:
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    async def _close(self) -> None:
        if self.doctor is not None:
            await self.doctor.aclose()
        await self.room.aclose()

    async def _expect(self, coro: Coroutine[Any, Any, Any], legal: bool) -> bool:
        try:
            await coro
        except RoomStateError as exc:
            assert not legal, f"a legal step was refused: {exc}"
            event("refused")
            return False
        except CheckInRefused as exc:
            assert not legal, f"a valid check-in was refused: {exc.reason}"
            event("check-in refused")
            return False
        assert legal, "an illegal step went through"
        return True

    @rule(valid=st.booleans())
    def check_in(self, valid: bool) -> None:
        async def go() -> None:
            code = (await self.room.book_walk_in("pat-1", minutes=1)).booking_code if valid else "NONE-SUCH"
            await self.room.check_in(code)

        counted = self.model is S.IDLE and self.wrong_codes < 5
        if self.run(self._expect(go(), valid and counted)):
            self.model = S.CHECKED_IN
        elif counted and not valid:
            self.wrong_codes += 1

    @rule()
    def measure(self) -> None:
        if self.run(self._expect(self.room.measure(), self.model is S.CHECKED_IN)):
            self.model = S.WAITING

    @rule()
    def admit(self) -> None:
        async def go() -> None:
            if self.room.state is S.WAITING:
                assert self.room.visit is not None
                apt = self.room.visit.appointment_id
                self.doctor = PhysicianPeer(
                    self.room.visit_url(apt), self.room.physician_token(apt), auto_admit=True
                )
                await self.doctor.__aenter__()
            await self.room.wait_for_physician(timeout=10)

        if self.run(self._expect(go(), self.model is S.WAITING)):
            self.model = S.IN_CONSULTATION

    @rule(camera=st.sampled_from(["room", "exam"]))
    def snapshot(self, camera: Any) -> None:
        self.run(self._expect(self.room.take_snapshot(camera), self.model is S.IN_CONSULTATION))

    @rule()
    def end(self) -> None:
        async def go() -> None:
            await self.room.end_consultation()
            await self.room.wait_idle()  # a cleaning buffer of 0 minutes

        if self.run(self._expect(go(), self.model is S.IN_CONSULTATION)):
            self.model = S.IDLE
            self.wrapped += 1
            self.run(self._dismiss())

    @rule()
    def abort(self) -> None:
        if self.run(self._expect(self.room.abort("test"), self.model in ABORTABLE)):
            self.model = S.IDLE
            self.run(self._dismiss())

    async def _dismiss(self) -> None:
        doctor, self.doctor = self.doctor, None
        if doctor is not None:
            await doctor.aclose()

    @invariant()
    def the_room_is_where_the_table_says(self) -> None:
        assert self.room.state is self.model

    @invariant()
    def only_wrap_ups_write_and_nothing_else_does(self) -> None:
        assert self.room.outbox is not None
        assert self.run(self.room.outbox.pending()) == self.wrapped
        assert not (self.folder / "room" / "fhir").exists()  # nothing drained: nothing written
        journal = self.room._journal
        assert journal is not None
        entry = self.run(journal.read())
        if self.model is S.IDLE:
            assert entry is None
        else:
            assert entry is not None
            assert entry.state is self.model


def test_random_visits_follow_the_table_and_abort_writes_nothing() -> None:
    # Each example opens a room and may admit a physician over WebRTC: a few dozen
    # sequences cover every (state, step) pair; more would only repeat them slowly.
    run_state_machine_as_test(VisitMachine, settings=settings(max_examples=20, stateful_step_count=12))


def test_check_in_opens_when_the_join_tokens_become_valid() -> None:
    from telemedroom._room._room import CHECK_IN_EARLY
    from telemedroom.scheduling._scheduler import JOIN_EARLY

    assert CHECK_IN_EARLY == JOIN_EARLY
