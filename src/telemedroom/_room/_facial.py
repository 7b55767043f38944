"""The room's facial measurements (a measurement aid, not a diagnosis): its detector and wrap-up entries.

With ``facial_measurements = true`` in the room's configuration, the physician's console
shows each protocol still's landmarks and measures, and the wrap-up transaction holds
one Observation per measure, derived from the still's Media, with the measuring
software and model as a Device. Off by default: an operator turns it on only after the
checks of the facial measurements guide (docs/facial-measurements.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from telemedroom._room._wrapup import KeptSnapshot

__all__ = ["face_detector", "measurement_entries_for"]


def face_detector(enabled: bool) -> Any | None:
    """A :class:`~telemedroom.exams.FaceMeshDetector` when measurements are on, else ``None``.

    Raises:
        MissingExtraError: On, but the ``landmarks`` extra is not installed.

    Examples:
        >>> face_detector(False) is None
        True
    """
    if not enabled:
        return None
    from telemedroom.exams import FaceMeshDetector

    return FaceMeshDetector()


async def measurement_entries_for(
    snapshots: Sequence[KeptSnapshot], *, detector: Any | None, patient: str, encounter: str
) -> list[dict[str, Any]]:
    """The wrap-up's Observations of the visit's protocol stills (none without a detector).

    Each step's latest exam still is measured off the event loop; a still that cannot
    be measured adds nothing (the console has shown why).

    Examples:
        >>> import asyncio
        >>> asyncio.run(measurement_entries_for([], detector=None, patient="Patient/p1",
        ...                                     encounter="Encounter/e1"))
        []
    """
    if detector is None:
        return []
    from telemedroom.exams import measure_images, measurement_entries

    latest = {shot.step: shot for shot in snapshots if shot.step is not None and shot.camera == "exam"}
    stills = [(step, shot.data) for step, shot in latest.items()]
    results, _problems = await asyncio.to_thread(measure_images, stills, detector=detector)
    media = {step: (f"Media/{shot.media_id}", shot.captured_at) for step, shot in latest.items()}
    return measurement_entries(
        results, model=detector.model, patient=patient, encounter=encounter, media=media
    )
