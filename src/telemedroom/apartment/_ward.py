"""The apartment's video line to the ward, through the clinic's signaling server and its waiting room.

The apartment is a participant like a room: it joins ``/ws/{apartment_id}/ward`` with
join tokens it signs with the clinic's join-token key (``[ward]``), so the ward's
console sees it in the waiting room of that standing visit.

- **Standby**: while no call is on, the apartment waits there as "<name> (standby)",
  with no camera and no microphone open. A nurse or physician who admits it *calls the
  apartment*: the screen rings; the patient accepts (or declines, or lets it ring out).
- **Call**: pressing "call the ward", or accepting a ring, opens the tablet's camera and
  microphone (``[ward] camera``, ``microphone``) and joins the same visit with them (a
  :class:`~telemedroom.session.peer.RoomPeer`) as "<name> (call)"; once admitted, every
  reading accepted during the call also goes to the ward live on the ``vitals`` data
  channel. The ward's video and voice reach the patient's screen through
  :meth:`WardLine.screen_tracks` (the screen's loopback ``POST /screen/webrtc``, as the
  kiosk's). Where the clinic's signaling server runs visits through its SFU (Janus),
  the call is multi-party like a room's visit: several nurses and physicians see the
  patient, the patient hears them all, and the screen lists who is in the call. When
  the ward ends the visit or the patient hangs up, the camera and microphone close and
  the apartment goes back to standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from telemedroom._aio import first_set
from telemedroom._loopback import KioskTracks
from telemedroom.errors import ApartmentConfigError, SessionError, TelemedroomError
from telemedroom.session._feed import RemoteFeed

if TYPE_CHECKING:
    from telemedroom.apartment._parts import GatewayParts
    from telemedroom.measurements import Measurement
    from telemedroom.session import TokenIssuer
    from telemedroom.session import protocol as p
    from telemedroom.session._client import SignalingClient
    from telemedroom.session._speaking import Speaker
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
        self.feed = RemoteFeed()  # the ward's video and voice, for the patient's screen
        self._media: dict[str, Any] = {}  # the tablet's camera and microphone, open during a call
        self._standby: SignalingClient | None = None
        self._call: asyncio.Task[None] | None = None
        self._ring: asyncio.Task[None] | None = None
        self._hang_up = asyncio.Event()
        self._closed = False
        self._tried = float("-inf")
        self._fallback: str | None = None  # why a call is not multi-party
        self._people: tuple[str, ...] = ()  # who of the ward is in the call

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
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(self.feed.aclose)  # last: after the peer is gone
                self._media = await self._open_media(stack)
                peer = RoomPeer(
                    self.url,
                    self._token("call", 4),
                    media=self._media,
                    on_physician_track=self.feed.add,
                )
                peer.sfu.on_unavailable = self._sfu_unavailable
                peer.sfu.speakers.on_change = self._participants_changed
                async with peer:
                    self.peer = peer
                    await peer.wait_admitted(timeout=self.apartment.config.ward.admission_timeout_s)
                    self.apartment._set_call("in_call", reason=self._fallback, participants=self._people)
                    await first_set(self._hang_up, peer.ended)
                    reason = "hung_up" if self._hang_up.is_set() else "ended_by_ward"
        except TelemedroomError as exc:
            logger.warning("the call to the ward failed: %s", exc)
            state, reason = "failed", str(exc)
        finally:
            self.peer = None
            self._media = {}
            self._call = None
            self._fallback, self._people = None, ()
        self.apartment._set_call(state, reason=reason)
        await self.standby()

    async def _open_media(self, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
        """Open the tablet's camera and microphone for one call (closed with ``stack``)."""
        from telemedroom._settings import media_source
        from telemedroom.devices.media import MediaDevice, Role

        ward = self.apartment.config.ward
        camera = media_source(Role.ROOM_CAMERA, ward.camera, width=640, height=480, frame_rate=30)
        microphone = media_source(Role.MICROPHONE, ward.microphone)
        return {
            "room": await stack.enter_async_context(MediaDevice(camera)),
            "microphone": await stack.enter_async_context(MediaDevice(microphone)),
        }

    def _sfu_unavailable(self, reason: str) -> None:
        """The ward's SFU is not reachable: the call goes on peer to peer; the screen says why."""
        logger.warning("the ward's SFU is not reachable, the call is peer to peer: %s", reason)
        self._fallback = f"sfu_unavailable: {reason}"
        if self.apartment.call_state.state == "in_call":
            self.apartment._set_call("in_call", reason=self._fallback, participants=self._people)

    def _participants_changed(self, speakers: list[Speaker]) -> None:
        """Who of the ward is in a multi-party call (names only; who speaks is not shown)."""
        people = tuple(speaker.name for speaker in speakers)
        if people == self._people:
            return
        self._people = people
        if self.apartment.call_state.state == "in_call":
            self.apartment._set_call("in_call", reason=self._fallback, participants=people)

    def screen_tracks(self) -> KioskTracks:
        """Fresh tracks for one screen connection: the self-view, the ward's video and voice.

        All are ``None`` outside a call (no camera is open then); the ward's tracks are
        ``None`` until they arrive. The screen stops them when its connection closes.
        """
        camera = self._media.get("room")
        video, audio = self.feed.subscribe()
        self_view = camera.subscribe() if camera is not None and not camera.closed else None
        return KioskTracks(self_view=self_view, physician=video, physician_audio=audio)

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
