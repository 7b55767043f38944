"""The hub's HTML pages: server-rendered, no inline script or style (the CSP forbids both)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from telemedroom.hub._apartment_worklist import ApartmentItem
from telemedroom.hub._fleet import RoomView
from telemedroom.hub._store import StaffSession
from telemedroom.hub._worklist import WorklistItem

__all__ = ["error_page", "fleet_page", "login_page", "page", "worklist_page"]

SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def page(title: str, body: str, session: StaffSession | None = None, *, refresh: int | None = None) -> str:
    """A whole page; with a session, a header with the user's name and a logout button."""
    header = ""
    if session is not None:
        header = (
            '<header><span class="who">'
            f"{escape(session.name)} ({escape(', '.join(sorted(session.roles)))})</span>"
            '<form method="post" action="/auth/logout">'
            f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
            '<button type="submit" id="logout">Log out</button></form></header>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + (f'<meta http-equiv="refresh" content="{refresh}">' if refresh else "")
        + f'<title>{escape(title)} · telemedroom hub</title><link rel="stylesheet" href="/static/hub.css">'
        f"</head><body>{header}<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def login_page(*, oidc: bool, local: bool, login_csrf: str, message: str = "") -> str:
    """The login page: a button to the IdP and/or the local account form."""
    parts = []
    if message:
        parts.append(f'<p class="error" role="alert">{escape(message)}</p>')
    if oidc:
        parts.append(
            '<p><a class="button" id="sso" href="/auth/oidc/start">Log in with the hospital account</a></p>'
        )
    if local:
        parts.append(
            '<form method="post" action="/auth/local" id="local-login">'
            f'<input type="hidden" name="login_csrf" value="{escape(login_csrf)}">'
            '<label>User name <input name="username" autocomplete="username" required></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password" required>'
            '</label><button type="submit">Log in</button></form>'
        )
    return page("Log in", "".join(parts))


def error_page(title: str, message: str, status_hint: str = "") -> str:
    """A page saying what was refused and what to do."""
    hint = f"<p>{escape(status_hint)}</p>" if status_hint else ""
    return page(
        title, f'<p class="error" role="alert">{escape(message)}</p>{hint}<p><a href="/login">Log in</a></p>'
    )


def _when(value: datetime | None) -> str:
    return escape(value.isoformat(timespec="minutes")) if value else "—"


def _apartment_row(item: ApartmentItem, session: StaffSession, *, join: bool) -> str:
    """A health apartment's worklist row: why it is there, its last contact, its entry and a Join."""
    why = []
    if item.calling_since is not None:
        why.append(f"calling the ward since {_when(item.calling_since)}")
    if item.alerts:
        why.append(f"{len(item.alerts)} open alert(s), highest {escape(item.highest or '')}")
    if item.offline_since is not None:
        why.append(f"offline since {_when(item.offline_since)}")
    alerts = "; ".join(f"{escape(rule)} ({escape(severity)})" for rule, severity, _at in item.alerts)
    actions = f'<a class="open" href="{escape(item.link)}">Open</a>'
    if join and item.calling_since is not None:
        actions = (
            f'<form method="post" action="/worklist/apartments/{escape(item.apartment)}/join">'
            f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
            '<button type="submit" class="join">Join</button></form>' + actions
        )
    return (
        f'<tr data-apartment="{escape(item.apartment)}" data-reasons="{escape(" ".join(item.reasons))}"'
        f' class="apartment {escape(item.highest or "")}"><td>—</td>'
        f'<td><a href="{escape(item.link)}">{escape(item.name)}</a></td><td>health apartment</td><td></td>'
        f'<td class="live">{"; ".join(why)}'
        f'<span class="contact"> · last contact {_when(item.last_contact)}</span></td>'
        f'<td class="readings">{alerts}</td>'
        f"<td>{_when(item.calling_since or item.offline_since)}</td><td>{actions}</td></tr>"
    )


def worklist_page(
    items: list[WorklistItem | ApartmentItem],
    session: StaffSession,
    *,
    services: list[str],
    practitioners: list[str],
    service: str | None,
    practitioner: str | None,
    apartment_join: bool = False,
) -> str:
    """The physicians' worklist, refreshed every 5 s, with one Join button per visit.

    ``items`` may hold health apartments (:class:`ApartmentItem`): a patient calling the
    ward, open alerts, an apartment gone offline, each with a link to its entry on
    ``/ward/apartments`` and, while calling and with ``apartment_join``, a Join button.
    """

    def options(values: list[str], chosen: str | None) -> str:
        return '<option value="">all</option>' + "".join(
            f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(v)}</option>'
            for v in values
        )

    who = practitioner
    filters = (
        '<form method="get" action="/worklist" id="filters">'
        f'<label>Service <select name="service">{options(services, service)}</select></label> '
        f'<label>Physician <select name="practitioner">{options(practitioners, who)}</select></label> '
        '<button type="submit">Filter</button></form>'
    )
    lines = []
    for item in items:
        if isinstance(item, ApartmentItem):
            lines.append(_apartment_row(item, session, join=apartment_join))
            continue
        join = ""
        if item.room is not None:
            join = (
                f'<form method="post" action="/worklist/{escape(item.appointment)}/join">'
                f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
                '<button type="submit" class="join">Join</button></form>'
            )
        lines.append(
            f'<tr data-appointment="{escape(item.appointment)}" data-live="{escape(item.live)}">'
            f"<td>{escape(item.start.isoformat(timespec='minutes'))}</td>"
            f"<td>{escape(item.room or '—')}</td><td>{escape(item.service)}</td>"
            f"<td>{escape(', '.join(item.practitioners))}</td>"
            f'<td class="live">{escape(item.live or item.status)}</td>'
            f'<td class="readings">{escape("; ".join(item.readings))}</td>'
            f"<td>{_when(item.waiting_since)}</td><td>{join}</td></tr>"
        )
    table = (
        '<table id="worklist"><thead><tr><th>Start</th><th>Room</th><th>Service</th><th>Physician</th>'
        "<th>State</th><th>Readings</th><th>Waiting since</th><th></th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )
    return page("Worklist", filters + table, session, refresh=5)


def fleet_page(rows: list[RoomView], session: StaffSession, *, after: str = "") -> str:
    """The operator's fleet table (``after``: the health apartments' table, see ``_apartments``)."""
    lines = []
    for row in rows:
        report = row.status.report if row.status else None
        devices = ", ".join(
            f"{device.kind}" + (f" {device.battery} %" if device.battery is not None else "")
            for device in (report.devices if report else [])
        )
        lines.append(
            f'<tr data-room="{escape(row.id)}" class="{"alert" if row.alerts else "ok"}">'
            f"<td>{escape(row.name)}</td>"
            f'<td class="online">{"online" if row.online else "offline"}</td>'
            f'<td class="state">{escape(report.state) if report else "—"}</td>'
            f"<td>{escape(devices) or '—'}</td>"
            f'<td class="backlog">{report.outbox_backlog if report else "—"}</td>'
            f"<td>{report.outbox_refused if report else '—'}</td>"
            f"<td>{_when(report.last_visit_at if report else None)}</td>"
            f"<td>{_when(report.cleaning_until if report else None)}</td>"
            f"<td>{escape(report.version) if report else '—'}</td>"
            f'<td class="alerts">{escape("; ".join(row.alerts))}</td></tr>'
        )
    table = (
        '<table id="fleet"><thead><tr><th>Room</th><th>Link</th><th>State</th><th>Devices</th>'
        "<th>Outbox</th><th>Refused</th><th>Last visit</th><th>Cleaning until</th><th>Version</th>"
        f"<th>Alerts</th></tr></thead><tbody>{''.join(lines)}</tbody></table>"
    )
    return page("Rooms", table + after, session, refresh=10)
