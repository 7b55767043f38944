"""The consultation: the room's peer joins and is admitted; live vitals, the facial exam, snapshots."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from telemedroom._room._config import RoomConfig
from telemedroom._room._core import RoomCore
from telemedroom._room._events import (
    Admitted,
    DeviceKind,
    ExamStep,
    ParticipantsChanged,
    ReadingTaken,
    RoomErrorEvent,
    RoomState,
    SnapshotTaken,
    VisitParticipant,
    WaitingRoom,
)
from telemedroom._room._live import LiveVitals, live_kinds
from telemedroom._room._models import KioskTracks, Visit
from telemedroom._room._summary import summary_of
from telemedroom._room._wrapup import KeptSnapshot, media_id
from telemedroom.errors import (
    RoomConfigError,
    RoomError,
)
from telemedroom.measurements import Measurement

if TYPE_CHECKING:
    from telemedroom.devices.media import Snapshot

__all__ = ["Consultation"]

logger = logging.getLogger("telemedroom.room")


class Consultation(RoomCore):
    """The consultation phase of :class:`~telemedroom.room.Room`: ``waiting`` to ``in_consultation``.

    Also what the kiosk gets of it: the self-view and the physician's video and voice.
    """

    @property
    def signaling_url(self) -> str | None:
        """The signaling server's base URL (the room's own one when embedded)."""
        return self._signaling_url

    def physician_token(
        self,
        appointment_id: str,
        *,
        subject: str = "physician",
        hours: float = 2.0,
        role: Literal["physician", "interpreter", "companion"] = "physician",
        name: str = "",
    ) -> str:
        """A physician join token from the embedded issuer (``config.session.embedded`` only).

        For the demo and tests: the physician's console (or a scripted
        :class:`~telemedroom.session.peer.PhysicianPeer`) joins with it. With an SFU
        (``[session] sfu``), ``role`` makes a token for an interpreter or a companion.

        Raises:
            RoomError: The room has no embedded issuer.
        """
        if self._issuer is None:
            raise RoomError("no embedded token issuer: set [session] embedded = true, or use the clinic's")
        now = self._clock()
        return self._issuer.issue(
            room=self.config.room_id,
            appointment=appointment_id,
            role=role,
            subject=subject,
            not_before=now - timedelta(minutes=1),
            expires_at=now + timedelta(hours=hours),
            name=name,
        )

    def visit_url(self, appointment_id: str) -> str:
        """The signaling WebSocket of a visit: ``{signaling_url}/ws/{room}/{appointment}``.

        Raises:
            RoomError: No signaling URL is configured.
        """
        if self._signaling_url is None:
            raise RoomError("no signaling URL: set [session] signaling_url, or embedded = true")
        return f"{self._signaling_url.rstrip('/')}/ws/{self.config.room_id}/{appointment_id}"

    async def wait_for_physician(self, timeout: float | None = None) -> None:
        """Join the consultation as the room's peer, wait in the waiting room until admitted.

        Args:
            timeout: Seconds to wait for admission; default ``config.session.admission_timeout_s``.

        Raises:
            RoomStateError: The room is not waiting (measure first).
            PeerError: Not admitted in time, denied, or the connection failed; the room
                stays waiting (try again or :meth:`abort`).
        """
        async with self._lock:
            self._require(RoomState.WAITING, action="wait_for_physician")
            assert self.visit is not None
            assert self.scheduler is not None
            from telemedroom.session.peer import RoomPeer

            if self.peer is None:
                if self.scheduler.join_tokens is None:
                    raise RoomConfigError(
                        "session.token_signing_key_file",
                        "[session]",
                        "missing: the room signs its join token with it (or set embedded = true)",
                    )
                tokens = await self.scheduler.issue_join_tokens(self.visit.appointment_id)
                self.peer = RoomPeer(
                    self.visit_url(self.visit.appointment_id),
                    tokens[self.visit.patient],
                    ice_servers=_ice_servers(self.config),
                    audit=self.audit,
                    on_physician_track=self._physician_track,
                    media=self._media,
                    on_exam_step=self._exam_step,
                    exam=self._exam_context(self.visit),
                    countdown_tick=self._countdown_tick,
                )
                self.peer.sfu.on_unavailable = self._sfu_unavailable  # say so on the kiosk
                self.peer.sfu.speakers.on_change = self._participants_changed  # who is there, who speaks
                await self.peer.__aenter__()
            self._emit(WaitingRoom(position=None))
            wait = self.config.session.admission_timeout_s if timeout is None else timeout
            await self.peer.wait_admitted(wait)
            await self._move("admit")
            self._audit("admitted", {"visit": self.visit.visit_id})
            self._emit(Admitted(physician=None))
            for reading in self.readings:  # the physician sees every reading of the visit
                await self.peer.send_measurement(reading)
            self._live = LiveVitals(self._devices, live_kinds(self.visit.devices), self._live_reading)
            self._live.start()

    def _sfu_unavailable(self, reason: str) -> None:
        """The visit's SFU could not be reached: peer to peer with one physician (event and audit)."""
        self._audit("sfu_fallback", {"reason": reason})
        message = f"multi-party visit unavailable, peer to peer with one physician: {reason}"
        self._emit(RoomErrorEvent(state=self._state, message=message))

    def _participants_changed(self, speakers: list[Any]) -> None:
        """The visit's participants through the SFU, and who speaks: tell the kiosk (throttled upstream)."""
        shown = [VisitParticipant(id=q.id, role=q.role, name=q.name, speaking=q.speaking) for q in speakers]
        self._participants_shown = ParticipantsChanged(participants=shown)  # for a kiosk that reconnects
        self._emit(self._participants_shown)

    async def _live_reading(self, kind: DeviceKind, reading: Measurement) -> None:
        """A reading taken during the consultation: keep it, audit it, tell the kiosk and the physician."""
        if self._state is not RoomState.IN_CONSULTATION or self.peer is None:
            return  # arrived while the consultation was ending: not part of the record
        self.readings.append(reading)
        self._audit("measurement", {"device": kind, "type": type(reading).__name__, "live": "true"})
        self._emit(
            ReadingTaken(
                device=kind,
                measurement=reading.model_dump(mode="json"),
                summary=summary_of(reading),
                live=True,
            )
        )
        await self.peer.send_measurement(reading)

    def _exam_context(self, visit: Visit) -> Any:
        from telemedroom._room._wrapup import encounter_id
        from telemedroom.session.peer import FacialExamContext

        # The grading is kept until the wrap-up, which writes it in the visit's one
        # transaction (an aborted visit writes nothing); the stills are the wrap-up's Media.
        async def keep(bundle: dict[str, Any]) -> None:
            self._exam_bundle = bundle

        return FacialExamContext(
            patient=visit.patient_reference,
            encounter=f"Encounter/{encounter_id(self.config.room_id, visit.visit_id)}",
            record=keep,
            include_stills=False,
            detector=self._detector,  # facial measurements, when configured
        )

    async def _exam_step(self, step: str, index: int, total: int, countdown: int, phase: str) -> None:
        self._emit(ExamStep(step=step, index=index, total=total, countdown=countdown, phase=phase))  # type: ignore[arg-type]
        if phase == "done" and self.peer is not None and self.peer.exam_stills:
            self._keep(self.peer.exam_stills[-1].snapshot, "exam", step)

    def _physician_track(self, track: Any) -> None:
        self._physician.add(track)

    async def send_measurement(self, reading: Measurement) -> None:
        """Forward a live reading to the physician (``in_consultation`` only) and keep it for the record.

        Raises:
            RoomStateError: Not in consultation.
        """
        self._require(RoomState.IN_CONSULTATION, action="send_measurement")
        assert self.peer is not None
        self.readings.append(reading)
        self._audit("measurement", {"device": "live", "type": type(reading).__name__})
        await self.peer.send_measurement(reading)

    async def take_snapshot(
        self, camera: Literal["room", "exam"] = "exam", step: str | None = None
    ) -> Snapshot:
        """A full-resolution still of a camera, kept for the record (FHIR ``Media`` at wrap-up).

        Args:
            camera: ``exam`` (the handheld camera) or ``room``.
            step: The examination protocol step it shows, if any (``Media.view``).

        Raises:
            RoomStateError: Not in consultation.
            MediaDeviceError: The camera gave no frame.
        """
        async with self._lock:
            self._require(RoomState.IN_CONSULTATION, action="take_snapshot")
            assert self.visit is not None
            device = self._media.get(camera)
            if device is None:
                raise RoomError(f"no {camera} camera: install 'telemedroom[video]'")
            snapshot = await device.snapshot("png")
            self._keep(snapshot, camera, step)
            return snapshot

    def _keep(self, snapshot: Snapshot, camera: str, step: str | None) -> KeptSnapshot:
        assert self.visit is not None
        kept = KeptSnapshot(
            media_id=media_id(self.config.room_id, self.visit.visit_id, len(self.snapshots)),
            camera=camera,
            step=step,
            data=snapshot.data,
            media_type=snapshot.media_type,
            width=snapshot.width,
            height=snapshot.height,
            captured_at=snapshot.captured_at,
        )
        self.snapshots.append(kept)
        self._audit(
            "snapshot",
            {"camera": camera, "media": kept.media_id, "size": f"{kept.width}x{kept.height}"},
        )
        self._emit(SnapshotTaken(camera=camera, media_id=kept.media_id, step=step))  # type: ignore[arg-type]
        return kept

    async def _leave(self) -> None:
        live, self._live = self._live, None
        if live is not None:  # first: no live reading goes to a closing peer or a sealed record
            await live.aclose()
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.aclose()
        await self._physician.aclose()
        self._participants_shown = None

    def kiosk_tracks(self) -> KioskTracks:
        """The kiosk's self-view (a subscription of the room camera), the physician's video and voice.

        Each call makes new subscriptions; ``physician`` and ``physician_audio`` are
        ``None`` before admission (and until the physician's tracks arrive).
        """
        room = self._media.get("room")
        physician, physician_audio = self._physician.subscribe()
        return KioskTracks(
            self_view=room.subscribe() if room is not None else None,
            physician=physician,
            physician_audio=physician_audio,
        )


def _ice_servers(config: RoomConfig) -> list[Any] | None:
    from telemedroom.session.turn import IceServer

    if not config.session.ice_servers:
        return [] if config.session.embedded else None
    return [
        IceServer(
            urls=s.urls,
            username=s.username,
            credential=s.credential.get_secret_value() if s.credential else None,
        )
        for s in config.session.ice_servers
    ]
