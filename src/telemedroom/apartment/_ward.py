"""The apartment's video line to the ward, through the clinic's signaling server and its waiting room.

The apartment is a participant like a room: it joins ``/ws/{apartment_id}/ward`` with
join tokens it signs with the clinic's join-token key (``[ward]``), so the ward's
console sees it in the waiting room of that standing visit.

- **Standby**: while no call is on, the apartment waits there as "<name> (standby)",
  with no camera and no microphone open. A nurse or physician who admits it *calls the
  apartment*: the screen rings; the patient accepts (or declines, or lets it ring out).
- **Call**: pressing "call the ward", or accepting a ring, joins the same visit with
  the apartment's camera and microphone (a :class:`~telemedroom.session.peer.RoomPeer`)
  as "<name> (call)"; once admitted, every reading accepted during the call also goes
  to the ward live on the ``vitals`` data channel. When the ward ends the visit or the
  patient hangs up, the apartment goes back to standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from telemedroom.errors import ApartmentConfigError, SessionError, TelemedroomError

if TYPE_CHECKING:
    from telemedroom.apartment._parts import GatewayParts
    from telemedroom.measurements import Measurement
    from telemedroom.session import TokenIssuer
    from telemedroom.session import protocol as p
    from telemedroom.session._client import SignalingClient
    from telemedroom.session.peer import RoomPeer

__all__ = ["WARD_APPOINTMENT", "WardLine"]

logger = logging.getLogger("telemedroom.apartment")

WARD_APPOINTMENT: Final = "ward"
_RING_FOR: Final = 60.0  # seconds the screen rings before the call counts as missed
_RETRY_EVERY: Final = 60.0  # seconds between tries to rejoin the waiting room


def token_issuer(apartment: GatewayParts) -> TokenIssuer:
    """The signer of the apartment's join tokens, from ``[ward]``.

    Raises:
        ApartmentConfigError: The key file or key id is missing, unreadable or not Ed25519.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from telemedroom.apartment._sinks import load_private_key
    from telemedroom.session import TokenIssuer

    ward = apartment.config.ward
    if ward.token_signing_key_file is None or ward.token_key_id is None:
        missing = (
            "ward.token_signing_key_file" if ward.token_signing_key_file is None else "ward.token_key_id"
        )
        raise ApartmentConfigError(
            missing, "[ward]", "missing: calling the ward needs the key file and its id"
        )
    key = load_private_key(ward.token_signing_key_file, "ward.token_signing_key_file")
    if not isinstance(key, Ed25519PrivateKey):
        raise ApartmentConfigError(
            "ward.token_signing_key_file", str(ward.token_signing_key_file), "join tokens need an Ed25519 key"
        )
    return TokenIssuer(key, ward.token_key_id)


class WardLine:
    """The standby presence and the calls of one apartment (see the module docstring).

    Args:
        apartment: The apartment (its configuration, clock and screen events).
        issuer: Signs the join tokens (default: from ``[ward]``).
    """

    def __init__(self, apartment: GatewayParts, issuer: TokenIssuer | None = None) -> None:
        self.apartment = apartment
        self.issuer = issuer or token_issuer(apartment)
        ward = apartment.config.ward
        assert ward.signaling_url is not None
        self.url = f"{ward.signaling_url.rstrip('/')}/ws/{apartment.config.apartment_id}/{WARD_APPOINTMENT}"
        self.peer: RoomPeer | None = None
        self._standby: SignalingClient | None = None
        self._call: asyncio.Task[None] | None = None
        self._ring: asyncio.Task[None] | None = None
        self._hang_up = asyncio.Event()
        self._closed = False
        self._tried = float("-inf")

    def _token(self, kind: str, hours: float) -> str:
        config = self.apartment.config
        now = self.apartment.clock.now()
        return self.issuer.issue(
            room=config.apartment_id,
            appointment=WARD_APPOINTMENT,
            role="patient",
            subject=config.patient.removeprefix("Patient/"),
            not_before=now - timedelta(minutes=1),
            expires_at=now + timedelta(hours=hours),
            name=f"{config.name} ({kind})",
        )

    # -- standby ---------------------------------------------------------------------

    async def standby(self) -> None:
        """Wait in the ward's waiting room, so the ward can call (:meth:`keep_standby` retries)."""
        from telemedroom.session._client import SignalingClient

        if self._closed or self._standby is not None or self._call is not None:
            return
        client = SignalingClient(self.url, self._token("standby", 12), self._on_standby)
        try:
            await client.connect()
        except SessionError as exc:
            logger.warning("the ward's signaling server is not reachable: %s", exc)
            self.apartment._set_call("idle", reason="ward_unreachable")
            return
        self._standby = client
        self.apartment._set_call("idle")

    async def keep_standby(self, now: float) -> None:
        """Join the waiting room again if the standby connection is gone (at most once a minute).

        ``now`` is monotonic seconds; the apartment's :meth:`~Apartment.check` calls this.
        """
        if self._standby is not None and self._standby.closed.is_set():
            self._standby = None  # the server restarted, or the visit was ended
            if self.apartment.call_state.state == "ringing":
                self.apartment._set_call("ended", reason="missed")
        busy = self._call is not None or self.apartment.call_state.state in ("ringing", "calling", "in_call")
        if self._closed or self._standby is not None or busy or now - self._tried < _RETRY_EVERY:
            return
        self._tried = now
        await self.standby()

    async def _on_standby(self, message: p.ServerMessage) -> None:
        from telemedroom.session import protocol as p

        if isinstance(message, p.Admitted) and self._call is None:
            self.apartment._set_call("ringing")
            self._ring = asyncio.create_task(self._ring_out())

    async def _ring_out(self) -> None:
        await asyncio.sleep(_RING_FOR)  # the ring's own duration, not a wait for a condition
        if self.apartment.call_state.state == "ringing":
            await self._leave_standby()
            self.apartment._set_call("ended", reason="missed")
            await self.standby()

    async def _leave_standby(self) -> None:
        client, self._standby = self._standby, None
        if client is not None:
            await client.aclose(leave=True)

    # -- calls -----------------------------------------------------------------------

    async def call(self) -> None:
        """Call the ward (the patient pressed the button), or take the call that rings.

        Returns once the call is under way; the screen follows it (``calling``,
        ``in_call``, ``ended``/``failed``).
        """
        if self._call is not None:
            return
        if self._ring is not None:
            self._ring.cancel()
            self._ring = None
        await self._leave_standby()
        self._hang_up.clear()
        self.apartment._set_call("calling")
        self._call = asyncio.create_task(self._run_call())

    async def decline(self) -> None:
        """Do not take the call that rings: leave, and wait in standby again."""
        if self.apartment.call_state.state != "ringing":
            return
        if self._ring is not None:
            self._ring.cancel()
            self._ring = None
        await self._leave_standby()
        self.apartment._set_call("ended", reason="declined")
        await self.standby()

    async def hang_up(self) -> None:
        """End the call from the apartment's side."""
        self._hang_up.set()
        task = self._call
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_call(self) -> None:
        from telemedroom.session.peer import RoomPeer

        reason: str | None = None
        state = "ended"
        try:
            async with RoomPeer(self.url, self._token("call", 4)) as peer:
                self.peer = peer
                await peer.wait_admitted(timeout=self.apartment.config.ward.admission_timeout_s)
                self.apartment._set_call("in_call")
                hang_up = asyncio.ensure_future(self._hang_up.wait())
                ended = asyncio.ensure_future(peer.ended.wait())
                try:
                    await asyncio.wait({hang_up, ended}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    hang_up.cancel()
                    ended.cancel()
                reason = "hung_up" if self._hang_up.is_set() else "ended_by_ward"
        except TelemedroomError as exc:
            logger.warning("the call to the ward failed: %s", exc)
            state, reason = "failed", str(exc)
        finally:
            self.peer = None
            self._call = None
        self.apartment._set_call(state, reason=reason)
        await self.standby()

    async def send_vitals(self, measurement: Measurement) -> None:
        """During a call, send a reading to the ward live (nothing otherwise)."""
        peer = self.peer
        if peer is not None and peer.admitted.is_set():
            await peer.send_measurement(measurement)

    async def aclose(self) -> None:
        """Hang up and leave the waiting room."""
        self._closed = True
        for task in (self._ring, self._call):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._leave_standby()
