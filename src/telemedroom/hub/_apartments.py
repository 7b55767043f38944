"""Health apartments in the hub: their rows in the fleet view, and the ward's messages to their screens.

An apartment reports like a room (signed heartbeats with its own key, ``kind``
``"apartment"``, listed under ``[[apartments]]``). Its heartbeat says its state, its open
alerts (rule and severity only: the values stay in the clinic's records), its devices
with battery, its outbox backlog; the hub adds the last contact.

The ward answers through the hub: a physician acknowledges an open alert or writes a
note on the ``/ward/apartments`` page; the message is kept in PostgreSQL with a number per
apartment, and the answer to the apartment's next heartbeat POST carries every message
after the apartment's ``ward_cursor``. The apartment shows them on the patient's screen
and reports the new cursor, so a message waits in the hub until it has arrived
(through hub restarts, either replica, an apartment offline for days).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any, Final, Protocol

from telemedroom.hub._config import SEVERITY_ORDER, AlertSettings, HubConfig, RoomKey
from telemedroom.hub._fleet import delivery_and_battery
from telemedroom.hub._pages import page
from telemedroom.hub._store import HubStore, RoomStatus, StaffSession
from telemedroom.session.audit import AuditAction
from telemedroom.session.heartbeat import Heartbeat

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

__all__ = [
    "ApartmentView",
    "WardMessages",
    "apartment_metrics",
    "apartment_routes",
    "apartment_view",
    "apartments_table",
]

_BATCH: Final = 50
_NOTE_MAX: Final = 500

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS hub_ward_messages (
    apartment text NOT NULL,
    seq       bigint NOT NULL,
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    alert     text,
    body      text,
    author    text NOT NULL,
    PRIMARY KEY (apartment, seq)
);
"""
# One lock space of our own for numbering an apartment's messages (hashtext(id) is the key).
_MESSAGE_LOCK: Final = 0x7E1E_0017


class WardMessages:
    """The ward's messages to the apartments, numbered per apartment (gap-free, across replicas).

    Examples:
        >>> WardMessages(HubStore("postgresql:///hub")).store.dsn
        'postgresql:///hub'
    """

    def __init__(self, store: HubStore) -> None:
        self.store = store

    async def create(self) -> None:
        """Create the table (idempotent; the hub does it when it opens)."""
        async with self.store.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MESSAGE_LOCK)
            await connection.execute(_SCHEMA)

    async def add(
        self,
        apartment: str,
        kind: str,
        *,
        author: str,
        at: datetime,
        alert: str | None = None,
        body: str = "",
    ) -> int:
        """Keep one message; its number within the apartment (1, 2, ...)."""
        async with self.store.pool.acquire() as connection, connection.transaction():
            # numbers are taken under a lock so that no message commits behind a later one
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _MESSAGE_LOCK, apartment
            )
            seq = await connection.fetchval(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM hub_ward_messages WHERE apartment = $1", apartment
            )
            await connection.execute(
                "INSERT INTO hub_ward_messages VALUES ($1, $2, $3, $4, $5, $6, $7)",
                apartment,
                seq,
                at,
                kind,
                alert,
                body,
                author,
            )
        return int(seq)

    async def after(self, apartment: str, cursor: int, limit: int = _BATCH) -> list[dict[str, Any]]:
        """The messages after ``cursor``, oldest first, as the apartment receives them."""
        rows = await self.store.pool.fetch(
            "SELECT * FROM hub_ward_messages WHERE apartment = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            apartment,
            cursor,
            limit,
        )
        out = []
        for row in rows:
            message: dict[str, Any] = {
                "seq": row["seq"],
                "at": row["at"].isoformat(),
                "kind": row["kind"],
                "by": row["author"],
            }
            if row["alert"] is not None:
                message["alert"] = row["alert"]
            if row["body"]:
                message["text"] = row["body"]
            out.append(message)
        return out

    async def newest(self) -> dict[str, int]:
        """``{apartment: number of its newest message}``."""
        rows = await self.store.pool.fetch(
            "SELECT apartment, MAX(seq) AS seq FROM hub_ward_messages GROUP BY apartment"
        )
        return {row["apartment"]: int(row["seq"]) for row in rows}


@dataclass(frozen=True)
class ApartmentView:
    """One apartment's row in the fleet view.

    Attributes:
        id: The apartment id.
        name: Its name from the hub configuration.
        online: A report arrived within ``alerts.offline_after_s``.
        status: The latest report, or ``None`` if it never reported.
        open_alerts: How many alerts are open (raised, not cleared).
        highest: The highest severity among them (``"high"``, ...), or ``None``.
        waiting: The ward's messages the apartment has not confirmed yet.
        alerts: Short sentences for the operator, as for rooms.
    """

    id: str
    name: str
    online: bool
    status: RoomStatus | None
    open_alerts: int = 0
    highest: str | None = None
    waiting: int = 0
    alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The row as JSON-ready data (``/api/fleet``'s ``apartments``)."""
        report = self.status.report if self.status else None
        return {
            "id": self.id,
            "name": self.name,
            "online": self.online,
            "last_contact": self.status.received_at.isoformat() if self.status else None,
            "state": report.state if report else None,
            "open_alerts": self.open_alerts,
            "highest_severity": self.highest,
            "devices": [d.model_dump(mode="json", exclude_none=True) for d in report.devices]
            if report
            else [],
            "outbox_backlog": report.outbox_backlog if report else None,
            "ward_messages_waiting": self.waiting,
            "alerts": self.alerts,
        }


def apartment_view(
    apartments: list[RoomKey],
    statuses: dict[str, RoomStatus],
    settings: AlertSettings,
    now: datetime,
    newest_messages: dict[str, int] | None = None,
) -> list[ApartmentView]:
    """The configured apartments with their alerts: a calling patient first, then high alerts, then any.

    Examples:
        >>> from datetime import datetime, UTC
        >>> rows = apartment_view([RoomKey(id="apt-7", public_key_file="k.pem")], {}, AlertSettings(),
        ...                       datetime.now(UTC))
        >>> rows[0].online, rows[0].alerts
        (False, ['never reported'])
    """
    views = []
    for apartment in apartments:
        status = statuses.get(apartment.id)
        found: list[str] = []
        online, count, highest, waiting = False, 0, None, 0
        if status is None:
            found.append("never reported")
        else:
            report = status.report
            online = settings.online(status.received_at, now)
            if not online:
                found.append(f"offline for {int((now - status.received_at).total_seconds())} s")
            elif report.waiting_since is not None:  # an offline apartment's call state is stale
                waited = max(0, int((now - report.waiting_since).total_seconds()))
                found.append(f"the patient calls the ward (waiting {waited // 60} min {waited % 60} s)")
            if report.state == "storage_full":
                found.append("the gateway's disk is full: new readings are refused")
            found.extend(delivery_and_battery(report, settings))
            count = len(report.alerts)
            if report.alerts:
                highest = max((a.severity for a in report.alerts), key=SEVERITY_ORDER.__getitem__)
                unseen = sum(not a.acknowledged for a in report.alerts)
                found.append(f"{count} open alert(s), highest {highest}, {unseen} not acknowledged")
            waiting = max(0, (newest_messages or {}).get(apartment.id, 0) - (report.ward_cursor or 0))
        views.append(
            ApartmentView(
                apartment.id, apartment.name or apartment.id, online, status, count, highest, waiting, found
            )
        )
    return sorted(views, key=_urgency)


def _urgency(view: ApartmentView) -> tuple[bool, int, bool, str]:
    """A calling patient first, then the highest open alert, then any alert, then by id."""
    calling = view.online and view.status is not None and view.status.report.waiting_since is not None
    return (not calling, -SEVERITY_ORDER.get(view.highest or "", 0), not view.alerts, view.id)


def _label(value: str) -> str:
    """A Prometheus label value, escaped (text format 0.0.4: backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def apartment_metrics(rows: list[ApartmentView], now: datetime) -> list[str]:
    """The apartments' lines of the hub's ``/metrics`` (Prometheus text format, no patient data).

    Examples:
        >>> from datetime import datetime, UTC
        >>> lines = apartment_metrics([ApartmentView("apt-7", "Wohnung 7", False, None)], datetime.now(UTC))
        >>> [line for line in lines if line.startswith("telemedroom_hub_apartments{")]
        ['telemedroom_hub_apartments{state="online"} 0', 'telemedroom_hub_apartments{state="offline"} 1']
    """
    reported = [(row, row.status) for row in rows if row.status is not None]
    calling = sum(row.online and status.report.waiting_since is not None for row, status in reported)
    alerts: Counter[tuple[str, bool]] = Counter(
        (alert.severity, alert.acknowledged) for _row, status in reported for alert in status.report.alerts
    )
    online = sum(row.online for row in rows)
    return [
        "# HELP telemedroom_hub_apartments Health apartments in the configuration, online or offline.",
        "# TYPE telemedroom_hub_apartments gauge",
        f'telemedroom_hub_apartments{{state="online"}} {online}',
        f'telemedroom_hub_apartments{{state="offline"}} {len(rows) - online}',
        "# HELP telemedroom_hub_apartments_calling Apartments whose patient called the ward and waits.",
        "# TYPE telemedroom_hub_apartments_calling gauge",
        f"telemedroom_hub_apartments_calling {calling}",
        "# HELP telemedroom_hub_apartment_open_alerts Open alerts the apartments report, by severity.",
        "# TYPE telemedroom_hub_apartment_open_alerts gauge",
        *(
            f'telemedroom_hub_apartment_open_alerts{{severity="{severity}",acknowledged="{str(seen).lower()}"}}'
            f" {alerts[severity, seen]}"
            for severity in SEVERITY_ORDER
            for seen in (False, True)
        ),
        "# HELP telemedroom_hub_apartment_last_contact_seconds Seconds since an apartment's last heartbeat.",
        "# TYPE telemedroom_hub_apartment_last_contact_seconds gauge",
        *(
            f'telemedroom_hub_apartment_last_contact_seconds{{apartment="{_label(row.id)}"}}'
            f" {max(0.0, (now - status.received_at).total_seconds()):.1f}"
            for row, status in reported
        ),
        "# HELP telemedroom_hub_apartment_outbox_backlog Records an apartment has not yet delivered.",
        "# TYPE telemedroom_hub_apartment_outbox_backlog gauge",
        *(
            f'telemedroom_hub_apartment_outbox_backlog{{apartment="{_label(row.id)}"}}'
            f" {status.report.outbox_backlog}"
            for row, status in reported
        ),
    ]


def apartments_table(rows: list[ApartmentView], session: StaffSession, *, actions: bool) -> str:
    """The apartments' table; with ``actions``, a physician's acknowledge buttons and note form."""

    def when(value: datetime | None) -> str:
        return escape(value.isoformat(timespec="minutes")) if value else "—"

    csrf = f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
    lines = []
    for row in rows:
        report = row.status.report if row.status else None
        devices = ", ".join(
            (d.name or d.kind) + (f" {d.battery} %" if d.battery is not None else "")
            for d in (report.devices if report else [])
        )
        open_alerts = []
        for alert in report.alerts if report else []:
            button = ""
            if actions and not alert.acknowledged:
                button = (
                    f'<form method="post" action="/ward/apartments/{escape(row.id)}/alerts/'
                    f'{escape(alert.id)}/acknowledge">'
                    f'{csrf}<button type="submit" class="acknowledge">Acknowledge</button></form>'
                )
            seen = " (acknowledged)" if alert.acknowledged else ""
            open_alerts.append(
                f'<li data-alert="{escape(alert.id)}" class="{escape(alert.severity)}">'
                f"{escape(alert.rule)}: {escape(alert.severity)}{seen},"
                f" since {when(alert.raised_at)}{button}</li>"
            )
        note = ""
        if actions:
            note = (
                f'<form method="post" action="/ward/apartments/{escape(row.id)}/notes" class="note">{csrf}'
                f'<label>Note to the patient <input name="text" maxlength="{_NOTE_MAX}" required></label>'
                '<button type="submit">Send</button></form>'
            )
        lines.append(
            f'<tr id="apartment-{escape(row.id)}" data-apartment="{escape(row.id)}"'
            f' class="{"alert" if row.alerts else "ok"}">'
            f"<td>{escape(row.name)}</td>"
            f'<td class="online">{"online" if row.online else "offline"}</td>'
            f'<td class="state">{escape(report.state) if report else "—"}</td>'
            f'<td class="open-alerts">{row.open_alerts}{f" ({escape(row.highest)})" if row.highest else ""}'
            f"<ul>{''.join(open_alerts)}</ul></td>"
            f"<td>{escape(devices) or '—'}</td>"
            f'<td class="backlog">{report.outbox_backlog if report else "—"}</td>'
            f'<td class="contact">{when(row.status.received_at if row.status else None)}</td>'
            f'<td class="waiting">{row.waiting}</td>'
            f'<td class="alerts">{escape("; ".join(row.alerts))}{note}</td></tr>'
        )
    return (
        '<table id="apartments"><thead><tr><th>Apartment</th><th>Link</th><th>State</th><th>Open alerts</th>'
        "<th>Devices</th><th>Outbox</th><th>Last contact</th><th>Messages waiting</th><th>Alerts</th></tr>"
        f"</thead><tbody>{''.join(lines)}</tbody></table>"
    )


class _HubParts(Protocol):
    """What the apartment routes use of the hub (a protocol: ``_app`` imports this module)."""

    config: HubConfig
    store: HubStore
    ward_messages: WardMessages

    def now(self) -> datetime: ...

    async def apartments(self) -> list[ApartmentView]: ...

    def _guarded(
        self, handler: Callable[[Request, StaffSession], Awaitable[Response]], *, role: str | None
    ) -> Callable[[Request], Awaitable[Response]]: ...


async def ward_answer(hub: _HubParts, apartment: str, beats: list[Heartbeat]) -> dict[str, Any]:
    """What the hub adds to its answer to an apartment's heartbeats: the ward's messages after its cursor."""
    cursor = max((beat.ward_cursor or 0 for beat in beats), default=0)
    return {"ward": await hub.ward_messages.after(apartment, cursor)}


def apartment_routes(hub: _HubParts) -> list[BaseRoute]:
    """``/ward/apartments`` (physicians: acknowledge, write a note) and its two form posts."""
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
    from starlette.routing import Route

    from telemedroom.hub._pages import SECURITY_HEADERS

    known = {apartment.id for apartment in hub.config.apartments}

    async def listing(_request: Request, session: StaffSession) -> Response:
        body = apartments_table(await hub.apartments(), session, actions=True)
        return HTMLResponse(page("Apartments", body, session, refresh=10), headers=SECURITY_HEADERS)

    async def posted(request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(await request.body() or b"{}")
            return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def done(request: Request, seq: int) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"seq": seq})
        return RedirectResponse("/ward/apartments", status_code=303)

    def refused(detail: str, status: int) -> Response:
        return JSONResponse({"error": "refused", "detail": detail}, status_code=status)

    async def acknowledge(request: Request, session: StaffSession) -> Response:
        apartment, alert = request.path_params["apartment"], request.path_params["alert"]
        status = (await hub.store.rooms()).get(apartment)
        if apartment not in known or status is None or alert not in {a.id for a in status.report.alerts}:
            return refused("the apartment reports no open alert with this id", 404)
        now = hub.now()
        seq = await hub.ward_messages.add(apartment, "acknowledged", author=session.name, at=now, alert=alert)
        await hub.store.audit(
            AuditAction.ALERT_ACKNOWLEDGED,
            actor=session.subject,
            role="physician",
            room=apartment,
            appointment="apartment",
            detail={"alert": alert, "message": str(seq)},
            at=now,
        )
        return done(request, seq)

    async def note(request: Request, session: StaffSession) -> Response:
        apartment = request.path_params["apartment"]
        text = (await posted(request)).get("text", "").strip()
        if apartment not in known:
            return refused("no apartment has this id", 404)
        if not 0 < len(text) <= _NOTE_MAX:
            return refused(f"a note has 1 to {_NOTE_MAX} characters", 400)
        now = hub.now()
        seq = await hub.ward_messages.add(apartment, "note", author=session.name, at=now, body=text)
        await hub.store.audit(
            AuditAction.NOTE_ADDED,
            actor=session.subject,
            role="physician",
            room=apartment,
            appointment="apartment",
            detail={"message": str(seq)},
            at=now,
        )
        return done(request, seq)

    return [
        Route("/ward/apartments", hub._guarded(listing, role="physician")),
        Route(
            "/ward/apartments/{apartment}/alerts/{alert}/acknowledge",
            hub._guarded(acknowledge, role="physician"),
            methods=["POST"],
        ),
        Route("/ward/apartments/{apartment}/notes", hub._guarded(note, role="physician"), methods=["POST"]),
    ]
