"""The gateway as its listener and its ward line see it: a protocol, so neither imports it.

:class:`~telemedroom.apartment.Apartment` satisfies :class:`GatewayParts`; the listener
(``_listener``) and the ward line (``_ward``) name this protocol instead of the class
that starts them, which keeps the apartment package free of import cycles
(``tests/test_import_graph.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from telemedroom.apartment._clock import Clock
    from telemedroom.apartment._config import ApartmentConfig
    from telemedroom.apartment._events import ApartmentEvent, CallChanged
    from telemedroom.apartment._journal import Journal
    from telemedroom.devices import Backend
    from telemedroom.measurements import Measurement
    from telemedroom.monitoring import Alert

__all__ = ["DeviceRule", "GatewayParts"]

DeviceRule = Literal[
    "battery-low",
    "device-not-seen",
    "device-clock",
    "device-data",
    "storage-full",
    "gateway-clock",
    "bluetooth-adapter",
    "delivery-failing",
]
"""The ids of the gateway's own device and health alerts."""


class GatewayParts(Protocol):
    """What the listener and the ward line use of the apartment's gateway."""

    config: ApartmentConfig
    clock: Clock
    ble_backend: Backend | None
    journal: Journal
    call_state: CallChanged

    @property
    def storage_full(self) -> bool: ...

    async def accept(self, measurement: Measurement, *, device: str | None = None) -> bool: ...

    async def device_seen(
        self,
        address: str,
        *,
        battery: int | None = None,
        clock_skew: timedelta | None = None,
        malformed: int = 0,
        last_sequence: int | None = None,
    ) -> None: ...

    async def device_alert(
        self,
        rule_id: DeviceRule,
        condition: str,
        message: str,
        severity: Literal["low", "moderate", "high"],
        *,
        active: bool,
    ) -> Alert | None: ...

    def _publish(self, event: ApartmentEvent) -> None: ...

    def _set_call(
        self, state: Any, reason: str | None = None, participants: tuple[str, ...] = ()
    ) -> None: ...
