"""What the virtual devices and the bleak shim need from the virtual radio: :class:`Radio`.

:class:`~telemedroom.testing.BumbleBackend` is one. It sits above both (it starts the
virtual devices and hands the shim to bleak), so they name this protocol, never it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bumble.device import Device

__all__ = ["Radio"]


class Radio(Protocol):
    """A shared virtual Bluetooth link with devices on it."""

    def has_device(self, address: str) -> bool:
        """Whether a virtual device with this address is on the link."""
        ...

    def new_device(self, name: str, address: str) -> Device:
        """A new bumble device on the link (a peripheral's own controller)."""
        ...

    async def central(self, role: str) -> Device:
        """A powered-on central on the link, for a scanner or a client."""
        ...

    async def release(self, device: Device) -> None:
        """Power a device off and take it off the link."""
        ...

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Keep a background task until it ends (cancelled when the radio closes)."""
        ...
