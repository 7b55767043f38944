"""The daily summaries as pages for clinic staff: a small Starlette app (extra ``server``).

Mount it next to the physician console, on the same server (``app.mount("/summary",
summary_app(...))`` on the app of ``telemedroom.session.signaling.create_app``): the
console then shows a "Daily summaries" link. Every page is :func:`render_html` (every
text from the data HTML-escaped) under a Content-Security-Policy that allows nothing but
the page's own inline style, by its SHA-256 hash: no script, no external file, no frame.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from html import escape
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from telemedroom.errors import MissingExtraError
from telemedroom.monitoring._monitor import Monitor
from telemedroom.monitoring._summary import STYLE, daily_summary, render_html

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

Authorize = Callable[["Request"], Awaitable[str | None]]
"""Who is asking: the staff member's id, or ``None`` to refuse (HTTP 401)."""

_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
SUMMARY_HEADERS: Final[dict[str, str]] = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",  # health data: not in any cache
}
"""The headers of every summary page (the CSP allows only the page's own inline style)."""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def summary_app(
    monitors: Iterable[Monitor] | Callable[[], Iterable[Monitor]],
    *,
    authorize: Authorize,
    window_days: int = 7,
) -> Starlette:
    """A Starlette app serving each patient's :func:`daily_summary` as HTML for clinic staff.

    - ``GET /``: the patients, each linked to today's summary (today in the patient's zone);
    - ``GET /patient?ref=Patient/...&day=YYYY-MM-DD``: that patient's summary for that day
      (``day`` defaults to today); 400 for a bad day, 404 for a patient no monitor watches.

    The pages hold health data: ``authorize`` must say who is asking (from the clinic's
    single sign-on header, a session cookie, a client certificate...) or return ``None``,
    which answers 401. It is a required argument so no deployment serves them openly.

    Args:
        monitors: The monitors (one per patient), or a callable returning the current ones.
        authorize: Checks each request.
        window_days: How many days the trends look back.

    Raises:
        MissingExtraError: Starlette is not installed (``pip install 'telemedroom[server]'``).

    Examples:
        >>> import asyncio, httpx
        >>> from telemedroom.monitoring import CarePlan, Monitor
        >>> plan = CarePlan.parse({"patient": "Patient/p1", "care_team": "CareTeam/c", "rules": []})
        >>> async def staff(request):
        ...     return "nurse-anna" if request.headers.get("x-staff") == "nurse-anna" else None
        >>> app = summary_app([Monitor(plan)], authorize=staff)
        >>> async def main():
        ...     transport = httpx.ASGITransport(app)
        ...     async with httpx.AsyncClient(transport=transport, base_url="http://clinic") as web:
        ...         refused = await web.get("/patient", params={"ref": "Patient/p1"})
        ...         page = await web.get("/patient", params={"ref": "Patient/p1", "day": "2026-11-25"},
        ...                              headers={"x-staff": "nurse-anna"})
        ...         return refused.status_code, page.status_code, "Daily summary 2026-11-25" in page.text
        >>> asyncio.run(main())
        (401, 200, True)
    """
    try:
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise MissingExtraError("server", "telemedroom.monitoring.summary_app") from exc

    def current() -> dict[str, Monitor]:
        found = monitors() if callable(monitors) else monitors
        return {monitor.plan.patient: monitor for monitor in found}

    def respond(title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(_page(title, body), status_code=status, headers=SUMMARY_HEADERS)

    def today(monitor: Monitor) -> date:
        return monitor.clock().astimezone(monitor.plan.zone).date()

    async def guarded(request: Request, handler: Callable[[Request], HTMLResponse]) -> HTMLResponse:
        if await authorize(request) is None:
            return respond("Not signed in", "<p>Sign in as clinic staff to see the daily summaries.</p>", 401)
        return handler(request)

    def index(_request: Request) -> HTMLResponse:
        rows = []
        for patient, monitor in sorted(current().items()):
            day = today(monitor)
            link = "patient?" + urlencode({"ref": patient, "day": day.isoformat()})
            active = sum(1 for alert in monitor.alerts if alert.active)
            unacknowledged = sum(1 for alert in monitor.alerts if not alert.acknowledged)
            rows.append(
                f'<tr><td><a href="{escape(link)}">{escape(patient)}</a></td>'
                f"<td>{escape(day.isoformat())}</td><td>{active}</td><td>{unacknowledged}</td></tr>"
            )
        table = (
            "<table><thead><tr><th>Patient</th><th>Today</th><th>Active alerts</th>"
            f"<th>Not acknowledged</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            if rows
            else "<p>No patient is monitored.</p>"
        )
        return respond("Daily summaries", table)

    def patient_page(request: Request) -> HTMLResponse:
        reference = request.query_params.get("ref", "")
        monitor = current().get(reference)
        if monitor is None:
            return respond("Unknown patient", f"<p>No monitor watches {escape(reference)}.</p>", 404)
        raw_day = request.query_params.get("day")
        try:
            day = date.fromisoformat(raw_day) if raw_day else today(monitor)
        except ValueError:
            return respond("Bad day", f"<p>{escape(raw_day or '')} is not a date (YYYY-MM-DD).</p>", 400)
        page = render_html(daily_summary(monitor, day, window_days=window_days))
        return HTMLResponse(page, headers=SUMMARY_HEADERS)

    async def index_route(request: Request) -> HTMLResponse:
        return await guarded(request, index)

    async def patient_route(request: Request) -> HTMLResponse:
        return await guarded(request, patient_page)

    routes: list[Any] = [
        Route("/", index_route),
        Route("/patient", patient_route),
    ]
    return Starlette(routes=routes)
