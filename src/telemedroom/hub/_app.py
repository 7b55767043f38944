"""The hub: one Starlette app for staff login, the fleet view and the rooms' heartbeats."""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Self
from zoneinfo import ZoneInfo

import httpx

from telemedroom._version import __version__
from telemedroom.errors import AccessRefused, HeartbeatRefused, LoginRefused, MissingExtraError
from telemedroom.hub._accounts import LocalAccounts
from telemedroom.hub._apartment_worklist import WARD_VISIT, ApartmentItem, apartment_items, merge
from telemedroom.hub._apartments import (
    ApartmentView,
    WardMessages,
    apartment_metrics,
    apartment_routes,
    apartment_view,
    apartments_table,
    ward_answer,
)
from telemedroom.hub._config import HubConfig
from telemedroom.hub._fleet import fleet_view
from telemedroom.hub._oidc import OidcClient, pkce_pair
from telemedroom.hub._pages import SECURITY_HEADERS, error_page, fleet_page, login_page, worklist_page
from telemedroom.hub._relay import PostgresRelay
from telemedroom.hub._store import DATABASE_GONE, HubStore, StaffSession
from telemedroom.hub._worklist import WorklistItem, fetch_appointments, worklist
from telemedroom.monitoring import Monitor
from telemedroom.session.audit import AuditAction, AuditLog
from telemedroom.session.heartbeat import HeartbeatVerifier
from telemedroom.session.tokens import TokenIssuer, TokenVerifier

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import BaseRoute, Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as _exc:
    raise MissingExtraError("hub", "telemedroom.hub") from _exc

__all__ = ["Hub"]

logger = logging.getLogger("telemedroom.hub")

SESSION_COOKIE: Final = "__Host-telemedroom-hub"
LOGIN_COOKIE: Final = "__Host-telemedroom-login"
_LOGIN_WINDOW: Final = timedelta(minutes=10)
_MAX_BATCH: Final = 500
_MAX_BODY: Final = 4_000_000
_STATIC: Final = Path(__file__).with_name("static")
_UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[Request], Awaitable[Response]]

_STAFF_KEY: Final = "telemedroom.hub.staff"  # the ASGI scope key the hub's guard fills in


async def _staff_in_scope(request: Request) -> str | None:
    """The staff member the hub's guard let through (the summary app's ``authorize``)."""
    staff = request.scope.get(_STAFF_KEY)
    return staff if isinstance(staff, str) else None


class Hub:
    """The clinic hub: open it (``async with``), then serve :attr:`app` (uvicorn, lifespan off).

    Args:
        config: The hub's configuration.
        clock: Returns now (timezone-aware); tests pass one they move.
        http: The HTTP client for the IdP (by default one of its own).
        mounts: More ASGI apps to mount behind the hub's routes, ``{path: app}`` (the
            booking API, the signaling server...).
        summaries: The health-apartment monitors (or a callable returning the current
            ones) whose daily summaries the hub serves at ``/summaries/`` behind the login.
        summaries_role: The staff role that may read them (``physician`` by default).

    Attributes:
        store: The PostgreSQL state (once open).
        app: The ASGI app.

    Examples:
        >>> config = HubConfig(public_url="https://hub.example.org", database_url="postgresql:///hub",
        ...                    accounts_file="accounts.toml")
        >>> sorted(route.path for route in Hub(config).app.routes)[:3]
        ['/', '/api/fleet', '/api/rooms/{room}/heartbeats']
    """

    def __init__(
        self,
        config: HubConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        http: httpx.AsyncClient | None = None,
        mounts: Mapping[str, Any] | None = None,
        summaries: Iterable[Monitor] | Callable[[], Iterable[Monitor]] | None = None,
        summaries_role: str = "physician",
    ) -> None:
        self.config = config
        self._summaries = summaries
        self._summaries_role = summaries_role
        self._clock = clock or (lambda: datetime.now(UTC))
        self._given_http = http
        self._mounts = dict(mounts or {})
        self.store = HubStore(config.database_url)
        self.ward_messages = WardMessages(self.store)  # health apartments (hub/_apartments.py)
        self.oidc: OidcClient | None = None
        self.accounts: LocalAccounts | None = None
        self._verifier: HeartbeatVerifier | None = None
        self._stack: AsyncExitStack | None = None
        self.counters: Counter[str] = Counter()
        self._schedule_pool: Any = None
        # physicians' join tokens and the signaling they join, with [tokens]
        self.issuer: TokenIssuer | None = None
        self.signaling_audit = AuditLog()
        self.signaling: Any = None
        # the visits live in PostgreSQL: a room and its physician may reach different replicas
        self.relay: PostgresRelay | None = None
        key = config.signing_key()
        if key is not None and config.tokens is not None:
            from telemedroom.session.signaling import SignalingConfig, create_app

            self.issuer = TokenIssuer(key, config.tokens.key_id)
            self.relay = PostgresRelay(config.database_url)
            self.signaling = create_app(
                SignalingConfig(
                    verifier=TokenVerifier(self.issuer.public_keys()),
                    allowed_origins=[config.origin],
                    audit=self.signaling_audit,
                    relay=self.relay,
                )
            )
        self.app = self._build()

    # -- lifetime ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        try:
            self._verifier = HeartbeatVerifier(self.config.room_keys(), clock=self._clock)
            if self.config.accounts_file is not None:
                self.accounts = LocalAccounts.from_file(self.config.accounts_file)
            await stack.enter_async_context(self.store)
            await self.ward_messages.create()
            if self.relay is not None:
                await stack.enter_async_context(self.relay)
            self._schedule_pool = self.store.pool
            if self.config.schedule_url and self.config.schedule_url != self.config.database_url:
                schedule = HubStore(self.config.schedule_url, max_size=4)
                self._schedule_pool = (await stack.enter_async_context(schedule)).pool
            if self.config.oidc is not None:
                http = self._given_http
                if http is None:
                    http = await stack.enter_async_context(httpx.AsyncClient())
                self.oidc = OidcClient(self.config.oidc, http)
                try:
                    await self.oidc.discover()
                except LoginRefused as exc:  # the IdP may come up later: readiness says so
                    logger.warning("identity provider not reachable yet: %s", exc)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the database pool and the HTTP client."""
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    def now(self) -> datetime:
        """The hub's clock."""
        return self._clock()

    # -- routes ------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/", self._home),
            Route("/healthz", self._healthz),
            Route("/readyz", self._readyz),
            Route("/metrics", self._metrics),
            Route("/login", self._login_page),
            Route("/auth/oidc/start", self._oidc_start),
            Route("/auth/callback", self._oidc_callback),
            Route("/auth/local", self._local_login, methods=["POST"]),
            Route("/auth/logout", self._guarded(self._logout, role=None), methods=["POST"]),
            Route("/fleet", self._guarded(self._fleet_page, role="operator")),
            Route("/api/fleet", self._guarded(self._fleet_api, role="operator")),
            Route("/api/rooms/{room}/heartbeats", self._heartbeats, methods=["POST"]),
            Route("/worklist", self._guarded(self._worklist_page, role="physician")),
            Route("/api/worklist", self._guarded(self._worklist_api, role="physician")),
            Route(
                "/worklist/apartments/{apartment}/join",
                self._guarded(self._join_apartment, role="physician"),
                methods=["POST"],
            ),
            Route(
                "/worklist/{appointment}/join",
                self._guarded(self._join, role="physician"),
                methods=["POST"],
            ),
            Mount("/static", StaticFiles(directory=_STATIC), name="static"),
            *apartment_routes(self),
        ]
        if self._summaries is not None:
            routes.append(Mount("/summaries", self._summary_pages(self._summaries)))
        # the seam for more products (the booking API...): mounted under their own paths
        routes.extend(Mount(path, app) for path, app in self._mounts.items())
        if self.signaling is not None:
            # last: /ws/{room}/{appointment} and /console/ of the signaling app
            routes.append(Mount("", self.signaling))
        # PostgreSQL went away under a request: 503 and fresh connections, not a dropped socket
        gone = {error: self._database_gone for error in DATABASE_GONE if error is not OSError}
        app = Starlette(routes=routes, exception_handlers=gone)
        app.state.hub = self
        return app

    async def _database_gone(self, _request: Request, exc: Exception) -> Response:
        logger.warning("the hub's database went away under a request (%s); reconnecting", exc)
        await self.store.reconnect()
        return PlainTextResponse(
            "the hub's database is unavailable; try again", status_code=503, headers={"Retry-After": "1"}
        )

    def _html(self, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    async def _healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _readyz(self, _request: Request) -> Response:
        checks = {"database": await self.store.ping()}
        if self.relay is not None:
            checks["signaling_relay"] = await self.relay.alive()
        if self.oidc is not None:
            try:
                await self.oidc.discover()
                checks["identity_provider"] = True
            except LoginRefused:
                checks["identity_provider"] = False
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    # -- sessions and CSRF -------------------------------------------------------------------------

    async def _session(self, request: Request) -> StaffSession:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise AccessRefused("no_session", "log in first")
        idle = timedelta(minutes=self.config.session.idle_minutes)
        found = await self.store.touch_session(session_id, now=self.now(), idle=idle)
        if isinstance(found, str):
            raise AccessRefused(found, "log in again" if found == "session_expired" else "log in first")
        return found

    async def _check_csrf(self, request: Request, session: StaffSession) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin != self.config.origin:
            raise AccessRefused("origin", f"request from {origin}, not {self.config.origin}")
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf")
            sent = value if isinstance(value, str) else None
        if not sent or not secrets.compare_digest(sent, session.csrf):
            raise AccessRefused("csrf", "the request carries no valid CSRF token")

    def _guarded(
        self, handler: Callable[[Request, StaffSession], Awaitable[Response]], *, role: str | None
    ) -> Handler:
        """``handler`` behind a live session (with ``role``) and, for unsafe methods, CSRF."""

        async def guarded(request: Request) -> Response:
            session: StaffSession | None = None
            try:
                session = await self._session(request)
                if request.method in _UNSAFE:
                    await self._check_csrf(request, session)
                if role is not None and role not in session.roles:
                    raise AccessRefused("forbidden_role", f"this page is for the {role} role")
            except AccessRefused as exc:
                return await self._refused(request, exc, session)
            return await handler(request, session)

        return guarded

    async def _refused(self, request: Request, exc: AccessRefused, session: StaffSession | None) -> Response:
        self.counters[f"refused_{exc.reason}"] += 1
        action = (
            AuditAction.SESSION_EXPIRED if exc.reason == "session_expired" else AuditAction.REQUEST_REFUSED
        )
        await self.store.audit(
            action,
            actor=session.subject if session else "anonymous",
            role=",".join(sorted(session.roles)) if session else "none",
            detail={"reason": exc.reason, "method": request.method, "path": request.url.path},
            at=self.now(),
        )
        logger.info("refused %s %s: %s", request.method, request.url.path, exc.reason)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.reason, "detail": exc.detail}, status_code=exc.status)
        if exc.status == 401 and request.method == "GET":
            response: Response = RedirectResponse("/login", status_code=303)
            if exc.reason == "session_expired":
                response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
            return response
        return self._html(error_page("Refused", str(exc)), exc.status)

    async def _start_session(self, *, subject: str, name: str, roles: frozenset[str], via: str) -> Response:
        session_id = secrets.token_urlsafe(32)
        now = self.now()
        await self.store.create_session(
            session_id,
            subject=subject,
            name=name,
            roles=roles,
            via=via,
            csrf=secrets.token_urlsafe(32),
            now=now,
            expires_at=now + timedelta(hours=self.config.session.lifetime_hours),
        )
        await self.store.audit(
            AuditAction.LOGIN, actor=subject, role=",".join(sorted(roles)), detail={"via": via}, at=now
        )
        self.counters["logins"] += 1
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(self.config.session.lifetime_hours * 3600),
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    async def _login_refused(self, exc: LoginRefused, actor: str = "anonymous") -> Response:
        self.counters[f"login_refused_{exc.reason}"] += 1
        await self.store.audit(
            AuditAction.LOGIN_REFUSED, actor=actor, role="none", detail={"reason": exc.reason}, at=self.now()
        )
        logger.info("login refused: %s", exc.reason)
        status = 503 if exc.reason == "idp_unreachable" else 400 if exc.reason != "bad_credentials" else 401
        if exc.reason == "no_role":
            status = 403
        return self._html(error_page("Login refused", str(exc), "Start again from the login page."), status)

    # -- login pages -------------------------------------------------------------------------------

    async def _home(self, request: Request) -> Response:
        try:
            session = await self._session(request)
        except AccessRefused:
            return RedirectResponse("/login", status_code=303)
        if "physician" in session.roles:
            return RedirectResponse("/worklist", status_code=303)
        return RedirectResponse("/fleet", status_code=303)

    async def _login_page(self, _request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        body = login_page(oidc=self.oidc is not None, local=self.accounts is not None, login_csrf=token)
        response = self._html(body)
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=600, path="/", secure=True, httponly=True, samesite="strict"
        )
        return response

    async def _oidc_start(self, _request: Request) -> Response:
        if self.oidc is None:
            return self._html(error_page("Not available", "this hub has no identity provider"), 404)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        try:
            url = await self.oidc.authorization_url(
                redirect_uri=self.config.redirect_uri, state=state, nonce=nonce, challenge=challenge
            )
        except LoginRefused as exc:
            return await self._login_refused(exc)
        await self.store.add_login_state(state, nonce, verifier, self.now())
        return RedirectResponse(url, status_code=303)

    async def _oidc_callback(self, request: Request) -> Response:
        if self.oidc is None:
            return self._html(error_page("Not available", "this hub has no identity provider"), 404)
        params = request.query_params
        try:
            if "error" in params:
                raise LoginRefused(
                    "idp_error", f"{params['error']}: {params.get('error_description', '')}"[:300]
                )
            state, code = params.get("state", ""), params.get("code", "")
            if not state or not code:
                raise LoginRefused("unknown_state", "the callback lacks its state or code")
            taken = await self.store.take_login_state(state, self.now() - _LOGIN_WINDOW)
            if taken is None:
                raise LoginRefused("unknown_state", "this login attempt is unknown, used or expired")
            nonce, verifier = taken
            login = await self.oidc.login(
                code=code, verifier=verifier, nonce=nonce, redirect_uri=self.config.redirect_uri
            )
            if not login.roles:
                raise LoginRefused(
                    "no_role", f"the {self.oidc.settings.roles_claim} claim names no staff role"
                )
        except LoginRefused as exc:
            return await self._login_refused(exc)
        return await self._start_session(
            subject=login.subject, name=login.name, roles=login.roles, via="oidc"
        )

    async def _local_login(self, request: Request) -> Response:
        form = await request.form()
        sent, expected = form.get("login_csrf"), request.cookies.get(LOGIN_COOKIE)
        if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
            return await self._refused(request, AccessRefused("csrf", "log in from the login page"), None)
        if self.accounts is None:
            return self._html(error_page("Not available", "this hub has no local accounts"), 404)
        username, password = form.get("username"), form.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
            return await self._login_refused(LoginRefused("bad_credentials", "user name or password missing"))
        account = self.accounts.check(username, password)
        if account is None:
            return await self._login_refused(
                LoginRefused("bad_credentials", "wrong user name or password"), actor=username[:64]
            )
        return await self._start_session(
            subject=account.username, name=account.name, roles=account.roles, via="local"
        )

    async def _logout(self, request: Request, session: StaffSession) -> Response:
        await self.store.delete_session(request.cookies.get(SESSION_COOKIE, ""))
        await self.store.audit(
            AuditAction.LOGOUT, actor=session.subject, role=",".join(sorted(session.roles)), at=self.now()
        )
        response = self._html(error_page("Logged out", "You are logged out."))
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    # -- the fleet ---------------------------------------------------------------------------------

    async def fleet(self) -> list[Any]:
        """The fleet view's rows (rooms with alerts first)."""
        return fleet_view(self.config.rooms, await self.store.rooms(), self.config.alerts, self.now())

    async def apartments(self) -> list[ApartmentView]:
        """The fleet view's health apartments (a calling patient first, then those with a high alert)."""
        statuses = await self.store.rooms()
        newest = await self.ward_messages.newest()
        return apartment_view(self.config.apartments, statuses, self.config.alerts, self.now(), newest)

    async def _fleet_page(self, _request: Request, session: StaffSession) -> Response:
        apartments = ""
        if self.config.apartments:
            table = apartments_table(await self.apartments(), session, actions=False)
            apartments = f"<h2>Health apartments</h2>{table}"
        return self._html(fleet_page(await self.fleet(), session, after=apartments))

    async def _fleet_api(self, _request: Request, _session: StaffSession) -> Response:
        rooms = [row.as_dict() for row in await self.fleet()]
        apartments = [row.as_dict() for row in await self.apartments()]
        return JSONResponse({"rooms": rooms, "apartments": apartments})

    async def _heartbeats(self, request: Request) -> Response:
        room = request.path_params["room"]
        assert self._verifier is not None, "the hub is not open"
        try:
            body = await request.body()
            if len(body) > _MAX_BODY:
                raise HeartbeatRefused(room[:64], "malformed", "the batch is too large")
            try:
                tokens = json.loads(body)["heartbeats"]
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
                raise HeartbeatRefused(
                    room[:64], "malformed", 'the body is not {"heartbeats": [...]}'
                ) from exc
            if not isinstance(tokens, list) or not 0 < len(tokens) <= _MAX_BATCH:
                raise HeartbeatRefused(room[:64], "malformed", f"1 to {_MAX_BATCH} heartbeats per request")
            beats = [self._verifier.verify(token, room=room) for token in tokens]
        except HeartbeatRefused as exc:
            self.counters["heartbeats_refused"] += 1
            await self.store.audit(
                AuditAction.HEARTBEAT_REFUSED,
                actor=exc.room,
                role="room",
                room=exc.room,
                detail={"reason": exc.reason, "detail": exc.detail[:200]},
                at=self.now(),
            )
            logger.warning("heartbeat refused: %s", exc)
            status = 400 if exc.reason == "malformed" else 403
            return JSONResponse({"error": exc.reason, "detail": exc.detail}, status_code=status)
        results: Counter[str] = Counter()
        for beat in beats:
            results[await self.store.record_heartbeat(beat, self.now())] += 1
        if results["replayed"]:
            await self.store.audit(
                AuditAction.HEARTBEAT_REFUSED,
                actor=room,
                role="room",
                room=room,
                detail={"reason": "replayed", "count": str(results["replayed"])},
                at=self.now(),
            )
        self.counters["heartbeats_accepted"] += results["current"] + results["late"]
        answer: dict[str, Any] = dict(results)
        if any(apartment.id == room for apartment in self.config.apartments):
            answer |= await ward_answer(self, room, beats)
        return JSONResponse(answer)

    # -- the worklist ------------------------------------------------------------------------------

    async def worklist(
        self, *, service: str | None = None, practitioner: str | None = None
    ) -> list[WorklistItem]:
        """Today's appointments (in the hub's time zone) with the rooms' live states."""
        zone = ZoneInfo(self.config.timezone)
        today = self.now().astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = await fetch_appointments(self._schedule_pool, today, today + timedelta(days=1))
        rooms = {room.id for room in self.config.rooms}
        return worklist(rows, rooms, await self.store.rooms(), service=service, practitioner=practitioner)

    async def apartment_worklist(self) -> list[ApartmentItem]:
        """The health apartments a physician must act on (calling, unacknowledged alerts, offline)."""
        statuses = await self.store.rooms()
        return apartment_items(self.config.apartments, statuses, self.config.alerts, self.now())

    def _filters(self, request: Request) -> tuple[str | None, str | None]:
        service = request.query_params.get("service") or None
        practitioner = request.query_params.get("practitioner") or None
        return service, practitioner

    async def _worklist_page(self, request: Request, session: StaffSession) -> Response:
        service, practitioner = self._filters(request)
        everything = await self.worklist()
        items = await self.worklist(service=service, practitioner=practitioner)
        # apartments are not filtered: a patient calling the ward must not be filtered away
        rows = merge(items, await self.apartment_worklist())
        return self._html(
            worklist_page(
                rows,
                session,
                services=sorted({item.service for item in everything}),
                practitioners=sorted({p for item in everything for p in item.practitioners}),
                service=service,
                practitioner=practitioner,
                apartment_join=self.issuer is not None,
            )
        )

    async def _worklist_api(self, request: Request, _session: StaffSession) -> Response:
        service, practitioner = self._filters(request)
        items = await self.worklist(service=service, practitioner=practitioner)
        rows = merge(items, await self.apartment_worklist())
        return JSONResponse({"worklist": [row.as_dict() for row in rows]})

    async def _join_apartment(self, request: Request, session: StaffSession) -> Response:
        """Issue the physician's join token for an apartment's standing ward visit and open the console."""
        apartment = request.path_params["apartment"]
        if self.issuer is None or self.config.tokens is None:
            return self._html(error_page("Not available", "this hub issues no join tokens ([tokens])"), 404)
        if apartment not in {a.id for a in self.config.apartments}:
            return await self._refused(
                request, AccessRefused("not_assigned", "no apartment of this hub has this id"), session
            )
        return await self._open_console(session, apartment, WARD_VISIT)

    async def _join(self, request: Request, session: StaffSession) -> Response:
        """Issue the physician's join token for one of today's visits and open the console."""
        appointment = request.path_params["appointment"]
        item = next((i for i in await self.worklist() if i.appointment == appointment), None)
        if self.issuer is None or self.config.tokens is None:
            return self._html(error_page("Not available", "this hub issues no join tokens ([tokens])"), 404)
        if item is None or item.room is None:
            return await self._refused(
                request,
                AccessRefused("not_assigned", "no visit of today in a known room has this id"),
                session,
            )
        return await self._open_console(session, item.room, item.appointment)

    async def _open_console(self, session: StaffSession, room: str, appointment: str) -> Response:
        """The physician's join token for a visit (audited), and the console opened with it."""
        assert self.issuer is not None
        assert self.config.tokens is not None
        now = self.now()
        token = self.issuer.issue(
            room=room,
            appointment=appointment,
            role="physician",
            subject=session.subject,
            name=session.name,
            not_before=now - timedelta(minutes=1),
            expires_at=now + timedelta(minutes=self.config.tokens.physician_minutes),
        )
        await self.store.audit(
            AuditAction.TOKEN_ISSUED,
            actor=session.subject,
            role="physician",
            room=room,
            appointment=appointment,
            detail={"via": "worklist"},
            at=now,
        )
        return RedirectResponse(f"/console/#token={token}", status_code=303)

    # -- health-apartment daily summaries ---------------------------------------------------------

    def _summary_pages(self, monitors: Iterable[Monitor] | Callable[[], Iterable[Monitor]]) -> Any:
        """``telemedroom.monitoring.summary_app`` behind a live session with the summaries' role.

        Without a session a page redirects to the login, with another role it is refused
        (403); both are audited, and so is every page read (``summary_viewed``).
        """
        from telemedroom.monitoring import summary_app

        role = self._summaries_role
        pages = summary_app(monitors, authorize=_staff_in_scope)

        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await pages(scope, receive, send)
                return
            request = Request(scope, receive)
            session: StaffSession | None = None
            try:
                session = await self._session(request)
                if role not in session.roles:
                    raise AccessRefused("forbidden_role", f"the daily summaries are for the {role} role")
            except AccessRefused as exc:
                refused = await self._refused(request, exc, session)
                await refused(scope, receive, send)
                return
            await self.store.audit(
                AuditAction.SUMMARY_VIEWED,
                actor=session.subject,
                role=role,
                detail={"path": request.url.path, "patient": request.query_params.get("ref", "")[:200]},
                at=self.now(),
            )
            await pages({**scope, _STAFF_KEY: session.subject}, receive, send)

        return guarded

    # -- metrics -----------------------------------------------------------------------------------

    async def _relay_metrics(self) -> list[str]:
        """Whether this replica's signaling relay listens, and how often it connected again."""
        if self.relay is None:
            return []
        listening, reconnects = (
            "telemedroom_hub_signaling_relay_listening",
            "telemedroom_hub_signaling_relay_reconnects",
        )
        return [
            f"# HELP {listening} Whether this replica hears the others (1) or reconnects (0).",
            f"# TYPE {listening} gauge",
            f"{listening} {int(await self.relay.alive())}",
            f"# HELP {reconnects}_total Reconnections after PostgreSQL went away.",
            f"# TYPE {reconnects}_total counter",
            f"{reconnects}_total {self.relay.reconnects}",
        ]

    async def _metrics(self, _request: Request) -> Response:
        rows = await self.fleet()
        now = self.now()
        waiting = [
            row.status.report
            for row in rows
            if row.status and row.online and row.status.report.state == "waiting"
        ]
        longest = max(
            ((now - report.waiting_since).total_seconds() for report in waiting if report.waiting_since),
            default=0.0,
        )
        lines = [
            "# HELP telemedroom_hub_info The hub's version.",
            "# TYPE telemedroom_hub_info gauge",
            f'telemedroom_hub_info{{version="{__version__}"}} 1',
            "# HELP telemedroom_hub_rooms Rooms in the configuration.",
            "# TYPE telemedroom_hub_rooms gauge",
            f"telemedroom_hub_rooms {len(rows)}",
            "# HELP telemedroom_hub_rooms_online Rooms that reported within the offline threshold.",
            "# TYPE telemedroom_hub_rooms_online gauge",
            f"telemedroom_hub_rooms_online {sum(row.online for row in rows)}",
            "# HELP telemedroom_hub_waiting_patients Patients waiting for a physician.",
            "# TYPE telemedroom_hub_waiting_patients gauge",
            f"telemedroom_hub_waiting_patients {len(waiting)}",
            "# HELP telemedroom_hub_longest_wait_seconds The longest current wait.",
            "# TYPE telemedroom_hub_longest_wait_seconds gauge",
            f"telemedroom_hub_longest_wait_seconds {longest:.1f}",
            "# HELP telemedroom_hub_outbox_backlog Records a room has not yet delivered.",
            "# TYPE telemedroom_hub_outbox_backlog gauge",
        ]
        lines += [
            f'telemedroom_hub_outbox_backlog{{room="{row.id}"}} {row.status.report.outbox_backlog}'
            for row in rows
            if row.status
        ]
        lines += [
            "# HELP telemedroom_hub_room_alerts Alerts raised per room.",
            "# TYPE telemedroom_hub_room_alerts gauge",
            *(f'telemedroom_hub_room_alerts{{room="{row.id}"}} {len(row.alerts)}' for row in rows),
            *apartment_metrics(await self.apartments(), now),
            *(await self._relay_metrics()),
            "# HELP telemedroom_hub_events_total Logins, refusals and heartbeats seen by this replica.",
            "# TYPE telemedroom_hub_events_total counter",
            *(
                f'telemedroom_hub_events_total{{event="{name}"}} {count}'
                for name, count in sorted(self.counters.items())
            ),
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
