"""The booking page's ASGI app: server-rendered HTML forms, no script, under ``/booking/``.

Every page works without JavaScript (the strictest Content-Security-Policy: no script
at all), so keyboard, screen readers, text zoom and old phones need nothing special.
Every form carries a CSRF token bound to the client's cookie; every POST from another
origin is refused. ``create_booking_app`` answers under ``/booking/`` so the hub can
``Mount("", app)`` it beside the signaling and the console.

Routes: ``/booking/`` (services), ``/booking/service/{id}?day=`` (days and times),
``POST /booking/hold`` (hold a time), ``/booking/hold/{id}`` (the details form;
``POST``: confirm; ``POST .../extend``: more time), ``/booking/manage/{token}`` (the
appointment, QR code, ``calendar.ics``, ``cancel``, ``reschedule``), ``/booking/find``
(booking code + date of birth), ``/booking/privacy``, ``/booking/api/...`` (the JSON
API, only with ``api = true``).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import date
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from telemedroom.errors import BookingInputError, BookingRefused, InvalidTransition, MissingExtraError

try:
    import jinja2
    import segno
    from markupsafe import Markup, escape
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as _exc:
    raise MissingExtraError("booking", "the booking page (telemedroom.booking)") from _exc

from telemedroom.booking._dates import day_text, time_text, when_text
from telemedroom.booking._forms import csrf_token, csrf_valid, parse_birth_date, read_details
from telemedroom.booking._service import TAKEN, BookingService
from telemedroom.booking._texts import LANGUAGES, TEXTS, pick_language
from telemedroom.scheduling import Appointment, Slot

__all__ = ["create_booking_app"]

_HERE: Final = Path(__file__).parent
PREFIX: Final = "/booking"
CLIENT_COOKIE: Final = "tmr_booking_client"
LANG_COOKIE: Final = "tmr_booking_lang"
_MAX_FORM: Final = 16 * 1024
_HEADERS: Final[dict[str, str]] = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer, browsers send "Origin: null" on form
    # posts and the origin check could not tell the page from another site. The manage
    # link's token still never leaves this origin in a Referer.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}
# BookingRefused.reason -> HTTP status of the page that says it
_REFUSED_STATUS: Final[dict[str, int]] = {
    "rate_limited": 429,
    "hold_limit": 429,
    "csrf": 403,
    "bot": 400,
    "link_invalid": 404,
    "not_found": 404,
    "consent_missing": 400,
}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Page:
    """One request's view: language, client cookie, CSRF token, rendering."""

    def __init__(self, app: _BookingApp, request: Request) -> None:
        self.app = app
        self.request = request
        config = app.service.config
        asked = request.query_params.get("lang")
        cookie_lang = request.cookies.get(LANG_COOKIE)
        if asked in LANGUAGES:
            self.lang = asked
        elif cookie_lang in LANGUAGES:
            self.lang = str(cookie_lang)
        else:
            self.lang = pick_language(request.headers.get("accept-language"), config.language)
        self.set_lang = asked in LANGUAGES and asked != cookie_lang
        client = request.cookies.get(CLIENT_COOKIE, "")
        self.new_client = not (16 <= len(client) <= 64 and client.replace("-", "").replace("_", "").isalnum())
        self.client = secrets.token_urlsafe(24) if self.new_client else client
        self.t = TEXTS[self.lang]

    @property
    def ip(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    @property
    def csrf(self) -> str:
        return csrf_token(self.app.secret, self.client)

    def switch_url(self) -> str:
        other = next(code for code in LANGUAGES if code != self.lang)
        query = dict(self.request.query_params)
        query["lang"] = other
        return f"{self.request.url.path}?{urlencode(query)}"

    def finish(self, response: Response) -> Response:
        secure = self.request.url.scheme == "https"
        if self.new_client:
            response.set_cookie(
                CLIENT_COOKIE, self.client, httponly=True, samesite="strict", secure=secure, path=PREFIX
            )
        if self.set_lang:
            response.set_cookie(
                LANG_COOKIE, self.lang, max_age=365 * 86400, samesite="lax", secure=secure, path=PREFIX
            )
        for name, value in _HEADERS.items():
            response.headers[name] = value
        return response

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        other = next(code for code in LANGUAGES if code != self.lang)
        html = self.app.templates.get_template(template).render(
            lang=self.lang,
            t=self.t,
            base=PREFIX,
            clinic=self.app.service.config.clinic_name,
            switch_url=self.switch_url(),
            other_lang=other,
            other_name=TEXTS[other]["lang_name"],
            csrf=self.csrf,
            alert=values.pop("alert", None),
            notice=values.pop("notice", None),
            **values,
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def message(
        self, title: str, text: str, status: int, *, alert: bool = True, headers: dict[str, str] | None = None
    ) -> Response:
        response = self.render(
            "message.html",
            status,
            page_title=title,
            alert=text if alert else None,
            text=None if alert else text,
        )
        response.headers.update(headers or {})
        return response

    def refused(self, exc: BookingRefused) -> Response:
        text = self.t.get(exc.reason, self.t["bad_request"])
        headers: dict[str, str] = {}
        if exc.retry_after is not None:
            text = text.format(seconds=int(exc.retry_after))
            headers["retry-after"] = str(int(exc.retry_after))
        return self.message(
            self.t["error_title"], text, _REFUSED_STATUS.get(exc.reason, 400), headers=headers
        )

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    async def form(self) -> dict[str, str]:
        """The POSTed form, after the CSRF and origin checks.

        Raises:
            BookingRefused: ``csrf`` (no or wrong token, another origin), ``bad_request``.
        """
        origin = self.request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != self.request.headers.get("host"):
            raise BookingRefused("csrf")
        kind = self.request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/x-www-form-urlencoded":
            raise BookingRefused("bad_request")
        body = await self.request.body()
        if len(body) > _MAX_FORM:
            raise BookingRefused("bad_request")
        try:
            pairs = parse_qsl(
                body.decode("utf-8", errors="strict"), keep_blank_values=True, max_num_fields=40
            )
        except (UnicodeDecodeError, ValueError):
            raise BookingRefused("bad_request") from None
        form = dict(pairs)
        if self.new_client or not csrf_valid(self.app.secret, self.client, form.get("csrf", "")):
            raise BookingRefused("csrf")
        return form


class _BookingApp:
    def __init__(self, service: BookingService) -> None:
        self.service = service
        self.secret = service.records.lookup_hash("csrf-secret", "v1").encode()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # -- helpers --------------------------------------------------------------------

    def labels(self, page: _Page) -> dict[str, str]:
        return {
            name: page.t[name] for name in ("name", "birth_date", "phone", "email", "insurance_number")
        } | {
            "consent": page.t["privacy_link"],
        }

    def slots_page(
        self,
        page: _Page,
        service_id: str,
        days: dict[date, list[Slot]],
        chosen: str | None,
        *,
        action: str,
        base_url: str,
        back: str,
        title: str,
        status: int = 200,
        alert: str | None = None,
    ) -> Response:
        service = self.service.service(service_id)
        zone = self.service.zone
        try:
            day = date.fromisoformat(chosen) if chosen else None
        except ValueError:
            raise BookingInputError("day", "not_a_date") from None
        if days and (day is None or day not in days):
            day = day if day is not None and day in days else min(days)
        listed = [
            {
                "text": day_text(d, page.lang),
                "url": f"{base_url}?{urlencode({'day': d.isoformat()})}",
                "count": page.t["slots_count"].format(count=len(slots)),
                "current": d == day,
            }
            for d, slots in sorted(days.items())
        ]
        times = [
            {"value": self.service.slot_value(s), "text": time_text(s.start, zone, page.lang)}
            for s in (days.get(day, []) if day else [])
        ]
        return page.render(
            "slots.html",
            status,
            page_title=title,
            alert=alert,
            service_id=service.id,
            service_name=self.service_name(service.id, page.lang),
            zone=zone.key,
            days=listed,
            times=times,
            day_text=day_text(day, page.lang) if day else "",
            action=action,
            back=back,
        )

    def service_name(self, service_id: str, lang: str) -> str:
        return self.service.services[service_id].name

    def qr(self, page: _Page, code: str) -> Markup:
        # make_qr, not make: segno would pick a Micro QR code for so short a text, which
        # kiosk cameras and phone scanners do not read. A viewBox (omitsize) lets CSS size it.
        svg = segno.make_qr(code, error="m").svg_inline(
            scale=6, border=4, dark="#000", light="#fff", omitsize=True
        )
        label = escape(page.t["qr_label"].format(code=code))
        return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))

    def manage_page(self, page: _Page, token: str, appointment: Appointment, **values: Any) -> Response:
        zone = self.service.zone_of(appointment.slot)
        base = f"{PREFIX}/manage/{token}"
        active = appointment.status == "booked"
        return page.render(
            "manage.html",
            page_title=values.pop("page_title", page.t["manage_title"]),
            service_name=self.service_name(appointment.slot.service_id, page.lang),
            when=when_text(appointment.slot.start, zone, page.lang),
            where=self.service.room_name(appointment.slot),
            code=appointment.booking_code,
            active=active,
            qr=self.qr(page, appointment.booking_code) if active else "",
            calendar_url=f"{base}/calendar.ics",
            manage_url=self.service.manage_url(token),
            reschedule_url=f"{base}/reschedule",
            cancel_url=f"{base}/cancel",
            **values,
        )

    # -- pages ------------------------------------------------------------------------

    async def index(self, page: _Page) -> Response:
        services = [
            {
                "id": s.id,
                "name": s.name,
                "minutes": page.t["minutes"].format(minutes=int(s.duration.total_seconds() // 60)),
            }
            for s in self.service.services.values()
        ]
        return page.render("index.html", page_title=page.t["title"], services=services)

    async def service_slots(self, page: _Page) -> Response:
        service_id = page.request.path_params["service"]
        self.service.count_request(page.ip)
        days = await self.service.free_days(service_id)
        url = f"{PREFIX}/service/{service_id}"
        return self.slots_page(
            page,
            service_id,
            days,
            page.request.query_params.get("day"),
            action=f"{PREFIX}/hold",
            base_url=url,
            back=f"{PREFIX}/",
            title=page.t["title"],
        )

    async def hold(self, page: _Page) -> Response:
        form = await page.form()
        self.service.count_request(page.ip)
        service_id = form.get("service", "")
        value = form.get("slot", "")
        try:
            held = await self.service.hold(service_id, value, client=page.client, ip=page.ip)
        except TAKEN:
            return await self.taken(page, service_id, value, page.t["taken"])
        return page.redirect(f"{PREFIX}/hold/{held.id}")

    async def taken(
        self,
        page: _Page,
        service_id: str,
        value: str,
        text: str,
        *,
        action: str | None = None,
        base_url: str | None = None,
        back: str | None = None,
    ) -> Response:
        """The slot went to someone else: the next free times from the slot's day on (409)."""
        slot = self.service.slot_of(service_id, value)
        days = await self.service.free_days(service_id, after=slot.start)
        first = min(days).isoformat() if days else None
        return self.slots_page(
            page,
            service_id,
            days,
            first,
            action=action or f"{PREFIX}/hold",
            base_url=base_url or f"{PREFIX}/service/{service_id}",
            back=back or f"{PREFIX}/",
            title=page.t["title"],
            status=409,
            alert=text,
        )

    async def details(
        self,
        page: _Page,
        *,
        problems: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        hold_id = page.request.path_params["hold"]
        held = await self.service.own_hold(hold_id, page.client)
        zone = self.service.zone_of(held.slot)
        consent_before, _, consent_after = page.t["consent"].partition("{link}")
        fields = self.service.config.fields
        return page.render(
            "details.html",
            400 if problems else 200,
            page_title=page.t["details_title"],
            notice=notice,
            hold_id=held.id,
            service_name=self.service_name(held.slot.service_id, page.lang),
            when=when_text(held.slot.start, zone, page.lang),
            where=self.service.room_name(held.slot),
            held_text=page.t["held"].format(until=time_text(held.expires_at, zone, page.lang)),
            problems=problems or {},
            values=values or {},
            labels=self.labels(page),
            fields=fields,
            contact_fields=[f for f in ("email", "phone") if f in fields],
            privacy_version=self.service.config.privacy_version,
            consent_before=consent_before,
            consent_after=consent_after,
            back=f"{PREFIX}/service/{held.slot.service_id}",
        )

    async def extend(self, page: _Page) -> Response:
        await page.form()
        hold_id = page.request.path_params["hold"]
        try:
            fresh = await self.service.extend(hold_id, client=page.client)
        except TAKEN:
            held = await self.service.own_hold(hold_id, page.client)
            return await self.taken(
                page, held.slot.service_id, self.service.slot_value(held.slot), page.t["hold_lost"]
            )
        return page.redirect(f"{PREFIX}/hold/{fresh.id}?extended=1")

    async def confirm(self, page: _Page) -> Response:
        form = await page.form()
        self.service.count_request(page.ip)
        hold_id = page.request.path_params["hold"]
        if form.get("website"):
            raise BookingRefused("bot")  # the honeypot: people never see this field
        held = await self.service.own_hold(hold_id, page.client)
        today = self.service.now().astimezone(self.service.zone).date()
        details, problems = read_details(form, self.service.config.fields, today, page.lang)
        if form.get("consent") != self.service.config.privacy_version:
            problems["consent"] = "consent_missing"
        if problems or details is None:
            kept = {k: v[:254] for k, v in form.items() if k in self.labels(page) and k != "consent"}
            kept["consent"] = "1" if form.get("consent") else ""
            return await self.details(page, problems=problems, values=kept)
        try:
            booked = await self.service.confirm(held.id, details, client=page.client, ip=page.ip)
        except TAKEN:
            return await self.taken(
                page, held.slot.service_id, self.service.slot_value(held.slot), page.t["hold_lost"]
            )
        query = {"new": "1"}
        if booked.emailed is not None:
            query["mail"] = "1" if booked.emailed else "0"
        return page.redirect(f"{PREFIX}/manage/{booked.token}?{urlencode(query)}")

    async def manage(self, page: _Page) -> Response:
        token = page.request.path_params["token"]
        appointment, record = await self.service.manage(token)
        query = page.request.query_params
        notice = None
        title = page.t["manage_title"]
        if query.get("new"):
            title = page.t["booked_title"]
        if query.get("moved"):
            notice = page.t["rescheduled"]
        alert = None
        if query.get("mail") == "1" and record.details is not None and record.details.email:
            notice = " ".join(filter(None, [notice, page.t["email_sent"].format(email=record.details.email)]))
        elif query.get("mail") == "0":
            alert = page.t["email_failed"]
        return self.manage_page(page, token, appointment, page_title=title, notice=notice, alert=alert)

    async def calendar(self, page: _Page) -> Response:
        appointment, _ = await self.service.manage(page.request.path_params["token"])
        response = Response(await self.service.calendar(appointment), media_type="text/calendar")
        response.headers["content-disposition"] = 'attachment; filename="termin.ics"'
        return page.finish(response)

    async def cancel_question(self, page: _Page) -> Response:
        token = page.request.path_params["token"]
        appointment, _ = await self.service.manage(token)
        zone = self.service.zone_of(appointment.slot)
        return page.render(
            "cancel.html",
            page_title=page.t["cancel"],
            service_name=self.service_name(appointment.slot.service_id, page.lang),
            when=when_text(appointment.slot.start, zone, page.lang),
            action=f"{PREFIX}/manage/{token}/cancel",
            back=f"{PREFIX}/manage/{token}",
        )

    async def cancel(self, page: _Page) -> Response:
        await page.form()
        token = page.request.path_params["token"]
        cancelled = await self.service.cancel(token)
        when = when_text(cancelled.slot.start, self.service.zone_of(cancelled.slot), page.lang)
        return page.message(
            page.t["cancelled_title"], page.t["cancelled_text"].format(when=when), 200, alert=False
        )

    async def reschedule_slots(self, page: _Page) -> Response:
        token = page.request.path_params["token"]
        appointment, _ = await self.service.manage(token)
        if appointment.status != "booked":
            return page.message(page.t["error_title"], page.t["not_changeable"], 409)
        days = await self.service.free_days(appointment.slot.service_id)
        url = f"{PREFIX}/manage/{token}/reschedule"
        return self.slots_page(
            page,
            appointment.slot.service_id,
            days,
            page.request.query_params.get("day"),
            action=url,
            base_url=url,
            back=f"{PREFIX}/manage/{token}",
            title=page.t["reschedule_title"],
        )

    async def reschedule(self, page: _Page) -> Response:
        form = await page.form()
        token = page.request.path_params["token"]
        value = form.get("slot", "")
        try:
            moved = await self.service.reschedule(token, value)
        except TAKEN:
            appointment, _ = await self.service.manage(token)
            url = f"{PREFIX}/manage/{token}/reschedule"
            return await self.taken(
                page,
                appointment.slot.service_id,
                value,
                page.t["taken"],
                action=url,
                base_url=url,
                back=f"{PREFIX}/manage/{token}",
            )
        query = {"moved": "1"} | (
            {"mail": "1" if moved.emailed else "0"} if moved.emailed is not None else {}
        )
        return page.redirect(f"{PREFIX}/manage/{token}?{urlencode(query)}")

    async def find(self, page: _Page) -> Response:
        if page.request.method == "GET":
            return page.render("find.html", page_title=page.t["find_title"])
        form = await page.form()
        try:
            born = parse_birth_date(form.get("birth_date", "")[:20], self.service.now().date())
        except BookingInputError:
            raise BookingRefused("not_found") from None
        token = await self.service.find(form.get("code", "")[:40], born, ip=page.ip)
        return page.redirect(f"{PREFIX}/manage/{token}")

    async def privacy(self, page: _Page) -> Response:
        config = self.service.config
        body = page.t["privacy_body"].format(clinic=config.clinic_name, days=config.retention_days)
        return page.render(
            "privacy.html",
            page_title=page.t["privacy_title"],
            version=config.privacy_version,
            body=body,
            contact=config.privacy_contact,
        )


def create_booking_app(service: BookingService, *, api: Any = None) -> Starlette:
    """The residents' booking page on ``service``, answering under ``/booking/``.

    Args:
        service: The open booking service (see :func:`~telemedroom.booking.open_booking`).
        api: An ASGI app mounted at ``/booking/api`` (the JSON booking API), or ``None``.

    Examples:
        >>> import asyncio, base64, httpx, tempfile
        >>> from datetime import UTC, date, datetime, time, timedelta
        >>> from telemedroom.booking import BookingConfig, open_booking
        >>> from telemedroom.scheduling import AvailabilityRule, Requirement, Resource, Service
        >>> rule = AvailabilityRule(rrule="FREQ=DAILY", starts=date(2026, 1, 1),
        ...                         opens=time(9), closes=time(12))
        >>> room = Resource(id="room-1", kind="room", name="Room 1", availability=(rule,))
        >>> gp = Service(id="gp-20", name="Sprechstunde", duration=timedelta(minutes=20),
        ...              requires=(Requirement(kind="room"),))
        >>> config = BookingConfig(clinic_name="Praxis", schedule_file="-", data_dir=tempfile.mkdtemp(),
        ...                        encryption_key=base64.b64encode(bytes(32)).decode())
        >>> async def main():
        ...     async with open_booking(config, schedule=([room], {"gp-20": gp})) as service:
        ...         app = create_booking_app(service)
        ...         transport = httpx.ASGITransport(app)
        ...         async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as http:
        ...             page = await http.get("/booking/", headers={"accept-language": "en"})
        ...     return page.status_code, "Sprechstunde" in page.text, '<html lang="en">' in page.text
        >>> asyncio.run(main())
        (200, True, True)
    """
    booking = _BookingApp(service)

    def page(handler: Callable[[_Page], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            view = _Page(booking, request)
            try:
                return await handler(view)
            except BookingRefused as exc:
                return view.refused(exc)
            except BookingInputError:
                return view.message(view.t["error_title"], view.t["bad_request"], 400)
            except InvalidTransition:
                return view.message(view.t["error_title"], view.t["not_changeable"], 409)

        return endpoint

    async def root(_request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    async def details_page(view: _Page) -> Response:
        notice = None
        if view.request.query_params.get("extended"):
            held = await service.own_hold(view.request.path_params["hold"], view.client)
            notice = view.t["held_extended"].format(
                until=time_text(held.expires_at, service.zone_of(held.slot), view.lang)
            )
        return await booking.details(view, notice=notice)

    routes: list[Any] = [
        Route("/", root),
        Route(PREFIX, root),
        Route(f"{PREFIX}/", page(booking.index)),
        Route(f"{PREFIX}/service/{{service}}", page(booking.service_slots)),
        Route(f"{PREFIX}/hold", page(booking.hold), methods=["POST"]),
        Route(f"{PREFIX}/hold/{{hold}}", page(details_page), methods=["GET"]),
        Route(f"{PREFIX}/hold/{{hold}}", page(booking.confirm), methods=["POST"]),
        Route(f"{PREFIX}/hold/{{hold}}/extend", page(booking.extend), methods=["POST"]),
        Route(f"{PREFIX}/manage/{{token}}", page(booking.manage)),
        Route(f"{PREFIX}/manage/{{token}}/calendar.ics", page(booking.calendar)),
        Route(f"{PREFIX}/manage/{{token}}/cancel", page(booking.cancel_question), methods=["GET"]),
        Route(f"{PREFIX}/manage/{{token}}/cancel", page(booking.cancel), methods=["POST"]),
        Route(f"{PREFIX}/manage/{{token}}/reschedule", page(booking.reschedule_slots), methods=["GET"]),
        Route(f"{PREFIX}/manage/{{token}}/reschedule", page(booking.reschedule), methods=["POST"]),
        Route(f"{PREFIX}/find", page(booking.find), methods=["GET", "POST"]),
        Route(f"{PREFIX}/privacy", page(booking.privacy)),
        Mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    if api is not None:
        routes.append(Mount(f"{PREFIX}/api", api))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await service.deliver()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.booking = service
    return app
