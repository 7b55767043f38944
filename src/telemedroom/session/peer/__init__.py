"""The WebRTC peers of a consultation, on aiortc (extra ``video``).

:class:`RoomPeer` is the room's side: it joins through the signaling server, waits to
be admitted, then offers the physician the room camera and microphone, an audio line
for the stethoscope (silent until asked for), and two data channels: ``vitals``, which
carries every :class:`~telemedroom.Measurement` the moment it is decoded, and
``control``, on which the physician asks for a snapshot from the exam camera, switches
the main video between room and exam camera, starts or stops the stethoscope, and runs
the guided facial protocol step by step (see :mod:`telemedroom.session.channels`).
Media is encrypted with DTLS-SRTP, as aiortc enforces; :attr:`RoomPeer.fingerprint` is
the room's DTLS certificate fingerprint, which the physician's console shows for comparison.

:class:`PhysicianPeer` is a scripted physician in Python: it admits, answers the
offer, receives the video and the vitals, and sends requests. The browser console
(``/console/``) does the same for people.

The package has one module per peer: :mod:`~telemedroom.session.peer.room` (the room's
side), :mod:`~telemedroom.session.peer.physician` (a scripted physician), and the part
both share in ``_base`` (signaling, the peer connection, ICE, close).

Examples:
    >>> import asyncio
    >>> from datetime import datetime, timedelta, UTC
    >>> from telemedroom import HeartRate
    >>> from telemedroom.session import TokenIssuer, TokenVerifier
    >>> from telemedroom.session.signaling import LocalServer, SignalingConfig, create_app
    >>> async def visit():
    ...     issuer, now = TokenIssuer.generate("k1"), datetime.now(UTC)
    ...     def token(role):
    ...         return issuer.issue(room="r1", appointment="a1", role=role, subject=role,
    ...                             not_before=now, expires_at=now + timedelta(hours=1))
    ...     app = create_app(SignalingConfig(verifier=TokenVerifier(issuer.public_keys())))
    ...     async with LocalServer(app) as server:
    ...         url = f"{server.ws_url}/ws/r1/a1"
    ...         async with PhysicianPeer(url, token("physician"), auto_admit=True) as doctor, \\
    ...                    RoomPeer(url, token("patient")) as room:
    ...             await room.send_measurement(HeartRate(bpm=72))
    ...             reading = await anext(doctor.measurements())
    ...             return reading.bpm, room.fingerprint == doctor.remote_fingerprint
    >>> asyncio.run(visit())
    (72, True)
"""

from __future__ import annotations

from telemedroom.session._exam import ExamStepCallback, ExamStill, FacialExamContext
from telemedroom.session.peer._base import Camera, fingerprint_of
from telemedroom.session.peer.physician import PhysicianPeer
from telemedroom.session.peer.room import RoomPeer

__all__ = [
    "Camera",
    "ExamStepCallback",
    "ExamStill",
    "FacialExamContext",
    "PhysicianPeer",
    "RoomPeer",
    "fingerprint_of",
]
