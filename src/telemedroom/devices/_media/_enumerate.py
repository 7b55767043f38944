"""Which cameras and sound cards the operating system exposes (Linux: sysfs and procfs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, NamedTuple

from pydantic import BaseModel, ConfigDict

from telemedroom.devices._media._source import MediaKind, MediaSource, Role


class CaptureDevice(BaseModel):
    """A camera or audio capture device found on this machine.

    Attributes:
        kind: ``"video"`` or ``"audio"``.
        location: What to open: ``/dev/video0``, or an ALSA PCM such as
            ``plughw:CARD=Device,DEV=0`` (by card id, so it survives re-plugging; ``plughw``
            converts to the sample rate asked for).
        name: The name the driver gives it.
        backend: The FFmpeg input format that opens it (``v4l2``, ``alsa``).

    Examples:
        >>> cam = CaptureDevice(kind="video", location="/dev/video0", name="USB Camera", backend="v4l2")
        >>> cam.source(Role.EXAM_CAMERA, width=1920, height=1080).location
        '/dev/video0'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MediaKind
    location: str
    name: str
    backend: str

    def source(self, role: Role, **fields: object) -> MediaSource:
        """A :class:`MediaSource` that opens this device in ``role`` (``fields``: its format)."""
        return MediaSource.device(role, self.location, backend=self.backend, **fields)


class SoundCard(NamedTuple):
    """One entry of ``/proc/asound/cards``."""

    number: int
    id: str
    driver: str
    name: str


class Pcm(NamedTuple):
    """One entry of ``/proc/asound/pcm``."""

    card: int
    device: int
    id: str
    name: str
    playback: int
    capture: int


# Linux sound/core/init.c, snd_card_info_read(): "%2i [%-15s]: %s - %s\n" then the long name.
_CARD_LINE: Final = re.compile(r"^\s*(\d+) \[(\S+)\s*\]: (.*?) - (.*)$")
# Linux sound/core/pcm.c, snd_pcm_proc_read(): "%02i-%02i: %s : %s" then " : playback %i",
# " : capture %i" for each direction that has substreams.
_PCM_LINE: Final = re.compile(r"^(\d+)-(\d+): (.*?) : (.*?)((?: : (?:playback|capture) \d+)*)$")
_DIRECTION: Final = re.compile(r" : (playback|capture) (\d+)")


def parse_asound_cards(text: str) -> list[SoundCard]:
    """The sound cards listed in the text of ``/proc/asound/cards``; other lines are skipped.

    Examples:
        >>> parse_asound_cards(" 1 [Device         ]: USB-Audio - USB Audio Device\\n"
        ...                    "                      C-Media USB Audio Device at usb-0000:00:14.0-2\\n")
        [SoundCard(number=1, id='Device', driver='USB-Audio', name='USB Audio Device')]
    """
    cards = []
    for line in text.splitlines():
        match = _CARD_LINE.match(line)
        if match:
            number, card_id, driver, name = match.groups()
            cards.append(SoundCard(int(number), card_id, driver.strip(), name.strip()))
    return cards


def parse_asound_pcm(text: str) -> list[Pcm]:
    """The PCM devices listed in the text of ``/proc/asound/pcm``; other lines are skipped.

    Examples:
        >>> parse_asound_pcm("00-00: ALC3246 Analog : ALC3246 Analog : playback 1 : capture 1\\n")
        [Pcm(card=0, device=0, id='ALC3246 Analog', name='ALC3246 Analog', playback=1, capture=1)]
    """
    pcms = []
    for line in text.splitlines():
        match = _PCM_LINE.match(line)
        if match:
            card, device, pcm_id, name, directions = match.groups()
            counts = {direction: int(count) for direction, count in _DIRECTION.findall(directions)}
            pcms.append(
                Pcm(int(card), int(device), pcm_id, name, counts.get("playback", 0), counts.get("capture", 0))
            )
    return pcms


def alsa_capture_devices(cards_text: str, pcm_text: str) -> list[CaptureDevice]:
    """Capture PCMs from the texts of ``/proc/asound/cards`` and ``/proc/asound/pcm``."""
    cards = {card.number: card for card in parse_asound_cards(cards_text)}
    devices = []
    for pcm in parse_asound_pcm(pcm_text):
        card = cards.get(pcm.card)
        if pcm.capture and card is not None:
            devices.append(
                CaptureDevice(
                    kind="audio",
                    location=f"plughw:CARD={card.id},DEV={pcm.device}",
                    name=f"{card.name}: {pcm.name}",
                    backend="alsa",
                )
            )
    return devices


def video4linux_device(node: str, name: str, index: str | None) -> CaptureDevice | None:
    """The camera behind the sysfs entry ``/sys/class/video4linux/<node>``, if it captures.

    A UVC camera registers two nodes, the picture (``index`` 0) and metadata (``index`` 1);
    only the first is a camera.

    Examples:
        >>> camera = video4linux_device("video0", "Integrated Camera: Integrated C\\n", "0\\n")
        >>> camera.location, camera.name, camera.backend
        ('/dev/video0', 'Integrated Camera: Integrated C', 'v4l2')
        >>> video4linux_device("video1", "Integrated Camera: Integrated C\\n", "1\\n") is None
        True
    """
    if not re.fullmatch(r"video\d+", node):
        return None
    if index is not None and index.strip() not in ("", "0"):
        return None
    return CaptureDevice(kind="video", location=f"/dev/{node}", name=name.strip() or node, backend="v4l2")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def list_capture_devices(root: Path = Path("/")) -> list[CaptureDevice]:
    """The cameras and audio capture devices Linux exposes; empty elsewhere or with none.

    Reads ``/sys/class/video4linux/*/name`` and ``index``, ``/proc/asound/cards`` and
    ``/proc/asound/pcm`` below ``root`` (a test can point it at a fixture tree). Opening
    a device may still need membership of the ``video`` or ``audio`` group.

    Examples:
        >>> all(device.kind in ("video", "audio") for device in list_capture_devices())
        True
    """
    devices: list[CaptureDevice] = []
    v4l = root / "sys" / "class" / "video4linux"
    nodes = sorted(v4l.glob("video*"), key=lambda path: int(re.sub(r"\D", "", path.name) or 0))
    for node in nodes:
        name = _read(node / "name")
        device = None if name is None else video4linux_device(node.name, name, _read(node / "index"))
        if device is not None:
            devices.append(device)
    cards, pcm = _read(root / "proc" / "asound" / "cards"), _read(root / "proc" / "asound" / "pcm")
    if cards is not None and pcm is not None:
        devices.extend(alsa_capture_devices(cards, pcm))
    return devices
