"""The visit's state machine: one table of (state, action) -> next state, nothing else decides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from telemedroom._room._events import RoomState
from telemedroom.errors import RoomStateError

__all__ = ["ABORTABLE", "TRANSITIONS", "Action", "next_state"]

Action = Literal["check_in", "measure", "measured", "admit", "end", "wrapped", "cleaned", "abort"]

S = RoomState
# idle -> checked_in -> measuring -> waiting -> in_consultation -> wrap_up -> cleaning -> idle;
# abort from any state before wrap-up goes back to idle with nothing written.
ABORTABLE: Final = frozenset({S.CHECKED_IN, S.MEASURING, S.WAITING, S.IN_CONSULTATION})
TRANSITIONS: Final[Mapping[tuple[RoomState, Action], RoomState]] = {
    (S.IDLE, "check_in"): S.CHECKED_IN,
    (S.CHECKED_IN, "measure"): S.MEASURING,
    (S.MEASURING, "measured"): S.WAITING,
    (S.WAITING, "admit"): S.IN_CONSULTATION,
    (S.IN_CONSULTATION, "end"): S.WRAP_UP,
    (S.WRAP_UP, "wrapped"): S.CLEANING,
    (S.CLEANING, "cleaned"): S.IDLE,
    **{(state, "abort"): S.IDLE for state in ABORTABLE},
}
# The state each action means to reach, for the error message when it cannot.
_TARGET: Final[Mapping[Action, RoomState]] = {action: to for (_, action), to in TRANSITIONS.items()}


def next_state(state: RoomState, action: Action) -> RoomState:
    """The state ``action`` leads to from ``state``.

    Raises:
        RoomStateError: The table has no such transition.

    Examples:
        >>> next_state(RoomState.IDLE, "check_in")
        <RoomState.CHECKED_IN: 'checked_in'>
        >>> next_state(RoomState.IDLE, "measure")
        Traceback (most recent call last):
        ...
        telemedroom.RoomStateError: the room cannot measure in state idle (no transition idle -> measuring)
    """
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        target = _TARGET.get(action)
        raise RoomStateError(state.value, action, target.value if target else None) from None
