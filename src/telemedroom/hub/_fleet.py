"""The operator's fleet view: every room's latest report, whether it is online, and its alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from telemedroom.hub._config import AlertSettings, RoomKey
from telemedroom.hub._store import RoomStatus
from telemedroom.session.heartbeat import Heartbeat

__all__ = ["RoomView", "fleet_view"]


@dataclass(frozen=True)
class RoomView:
    """One row of the fleet view.

    Attributes:
        id: The room id.
        name: Its name from the hub configuration.
        online: A report arrived within ``alerts.offline_after_s``.
        status: The latest report, or ``None`` if the room never reported.
        alerts: Short sentences for the operator (``"offline"``, ``"outbox backlog 240 > 100"``...).
    """

    id: str
    name: str
    online: bool
    status: RoomStatus | None
    alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-ready data (``/api/fleet``)."""
        report = self.status.report.model_dump(mode="json", exclude_none=True) if self.status else None
        return {
            "id": self.id,
            "name": self.name,
            "online": self.online,
            "received_at": self.status.received_at.isoformat() if self.status else None,
            "report": report,
            "alerts": self.alerts,
        }


def delivery_and_battery(report: Heartbeat, alerts: AlertSettings) -> list[str]:
    """What a room's or an apartment's report says is wrong with its outbox and its devices' batteries.

    Examples:
        >>> from datetime import UTC
        >>> beat = Heartbeat(room="nord-1", boot="b", sequence=0, sent_at=datetime.now(UTC),
        ...                  version="1", state="idle", outbox_backlog=240, outbox_refused=1)
        >>> delivery_and_battery(beat, AlertSettings())
        ['outbox backlog 240 > 100', '1 records refused by the FHIR server']
    """
    found = []
    if report.outbox_backlog > alerts.outbox_backlog_max:
        found.append(f"outbox backlog {report.outbox_backlog} > {alerts.outbox_backlog_max}")
    if report.outbox_refused:
        found.append(f"{report.outbox_refused} records refused by the FHIR server")
    found.extend(
        f"{device.name or device.kind} battery {device.battery} %"
        for device in report.devices
        if device.battery is not None and device.battery < alerts.battery_low_percent
    )
    return found


def fleet_view(
    rooms: list[RoomKey], statuses: dict[str, RoomStatus], alerts: AlertSettings, now: datetime
) -> list[RoomView]:
    """The rooms of the configuration with their alerts, rooms with alerts first.

    Examples:
        >>> from datetime import datetime, UTC
        >>> rows = fleet_view([RoomKey(id="nord-1", public_key_file="k.pem")], {}, AlertSettings(),
        ...                   datetime.now(UTC))
        >>> rows[0].online, rows[0].alerts
        (False, ['never reported'])
    """
    views = []
    for room in rooms:
        status = statuses.get(room.id)
        found: list[str] = []
        online = False
        if status is None:
            found.append("never reported")
        else:
            online = alerts.online(status.received_at, now)
            if not online:
                found.append(f"offline for {int((now - status.received_at).total_seconds())} s")
            found.extend(delivery_and_battery(status.report, alerts))
        views.append(RoomView(room.id, room.name or room.id, online, status, found))
    return sorted(views, key=lambda view: (not view.alerts, view.id))
