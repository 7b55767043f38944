"""The kiosk's ASGI app: the patient's page, its events, check-in and loopback video.

Routes (the "Kiosk HTTP surface" of the room):

- ``GET /kiosk/``: the page (static HTML/CSS/JS, strict Content-Security-Policy, no
  external resources; ``?lang=de|en`` picks the language);
- ``GET /kiosk/texts.json``: every string of the page, one table per language, and the
  room's default language;
- ``WS /kiosk/events``: each room event as one JSON text message
  (``event.model_dump(mode="json")``); the page sends only pings;
- ``POST /kiosk/check-in`` ``{"code": "..."}``: 204, or 400/409/429 ``{"reason": ...}``;
- ``POST /kiosk/webrtc`` ``{"sdp": ..., "type": "offer"}``: the answer of the room's
  loopback peer, which sends the self-view and (once admitted) the physician's video.

Only loopback clients are served unless ``allow_remote=True``: the page belongs on the
kiosk's own screen. Browser requests from another origin are refused (a web page the
kiosk's browser might open cannot check anyone in or watch the camera).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from telemedroom.errors import CheckInRefused, MissingExtraError, RoomStateError

try:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket
except ImportError as _exc:
    raise MissingExtraError("server", "the kiosk page (telemedroom._kiosk)") from _exc

from telemedroom._kiosk._backend import KioskBackend
from telemedroom._kiosk._texts import LANGUAGES, TEXTS, Language
from telemedroom._loopback import VIDEO_JS, KioskPeers, answer_offer
from telemedroom._web import LoopbackOnly, json_body, same_origin, stream_events, with_headers

__all__ = ["close_kiosk", "create_kiosk_app"]

logger = logging.getLogger(__name__)

_STATIC: Final = Path(__file__).with_name("static")

# The page loads only its own script and style and talks only to this server; video
# arrives as a MediaStream (srcObject), never as a URL.
_PAGE_HEADERS: Final[dict[str, str]] = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

# CheckInRefused.reason -> HTTP status; any other reason is a plain 400.
_REFUSAL_STATUS: Final[dict[str, int]] = {"too_many_attempts": 429, "busy": 409}
_REFUSAL: Final = "the kiosk serves only this machine"
_MAX_CODE: Final = 64


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"reason": reason}, status_code=status, headers=_PAGE_HEADERS)


class _Kiosk:
    def __init__(self, backend: KioskBackend, language: Language) -> None:
        self.backend = backend
        self.language = language
        self.peers = KioskPeers(backend.kiosk_tracks)

    async def texts(self, _request: Request) -> JSONResponse:
        return JSONResponse(
            {"default": self.language, "languages": list(LANGUAGES), "texts": TEXTS},
            headers=_PAGE_HEADERS,
        )

    async def check_in(self, request: Request) -> Response:
        if not same_origin(request):
            return _refuse(403, "cross_origin")
        data = await json_body(request)
        if data is None:
            return _refuse(400, "bad_request")
        code = data.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > _MAX_CODE:
            return _refuse(400, "invalid_code")
        try:
            await self.backend.check_in(code.strip())
        except CheckInRefused as exc:
            return _refuse(_REFUSAL_STATUS.get(exc.reason, 400), exc.reason)
        except RoomStateError:
            return _refuse(409, "busy")
        return Response(status_code=204, headers=_PAGE_HEADERS)

    async def webrtc(self, request: Request) -> Response:
        return await answer_offer(self.peers, request, _PAGE_HEADERS)

    async def video_js(self, _request: Request) -> FileResponse:
        return FileResponse(VIDEO_JS, media_type="text/javascript", headers=_PAGE_HEADERS)

    async def events(self, websocket: WebSocket) -> None:
        await stream_events(websocket, self.backend.events)


def create_kiosk_app(
    backend: KioskBackend, *, language: Language = "de", allow_remote: bool = False
) -> Starlette:
    """The patient kiosk's app, answering under ``/kiosk/`` (see the module docstring).

    Args:
        backend: The room (anything with ``events``, ``check_in`` and ``kiosk_tracks``).
        language: The page's language until a visit's ``CheckedIn`` event says otherwise
            (the room's configured language).
        allow_remote: Serve clients other than loopback ones too (a kiosk screen on
            another machine; put TLS in front of it).

    Close its video connections with :func:`close_kiosk` when the room shuts down
    (uvicorn's lifespan does it too when the app is served on its own).

    Examples:
        >>> import asyncio, httpx
        >>> from telemedroom._kiosk import KioskTracks
        >>> class Closed:  # a backend that has no visit and no camera
        ...     async def events(self):
        ...         return; yield
        ...     async def check_in(self, booking_code):
        ...         return None
        ...     def kiosk_tracks(self):
        ...         return KioskTracks(self_view=None, physician=None)
        >>> app = create_kiosk_app(Closed(), language="en")
        >>> async def main():
        ...     transport = httpx.ASGITransport(app)
        ...     async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        ...         page = await http.get("/kiosk/")
        ...         texts = (await http.get("/kiosk/texts.json")).json()
        ...     policy = page.headers["content-security-policy"]
        ...     return page.status_code, "script-src 'self'" in policy, texts["default"]
        >>> asyncio.run(main())
        (200, True, 'en')
    """
    kiosk = _Kiosk(backend, language)

    async def root(_request: Request) -> RedirectResponse:
        return RedirectResponse("/kiosk/")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await kiosk.peers.aclose()

    page = with_headers(StaticFiles(directory=_STATIC, html=True), _PAGE_HEADERS)
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/kiosk/texts.json", kiosk.texts),
            Route("/kiosk/check-in", kiosk.check_in, methods=["POST"]),
            Route("/kiosk/webrtc", kiosk.webrtc, methods=["POST"]),
            Route("/kiosk/video.js", kiosk.video_js),
            WebSocketRoute("/kiosk/events", kiosk.events),
            Mount("/kiosk", page, name="kiosk"),
        ],
        middleware=[Middleware(LoopbackOnly, allow_remote=allow_remote, refusal=_REFUSAL)],
        lifespan=lifespan,
    )
    app.state.kiosk = kiosk
    return app


async def close_kiosk(app: Starlette) -> None:
    """Close the kiosk app's video connections (stopping the tracks they sent).

    Examples:
        >>> import asyncio
        >>> from telemedroom._kiosk import KioskTracks
        >>> class Idle:
        ...     async def events(self):
        ...         return; yield
        ...     async def check_in(self, booking_code):
        ...         return None
        ...     def kiosk_tracks(self):
        ...         return KioskTracks(self_view=None, physician=None)
        >>> asyncio.run(close_kiosk(create_kiosk_app(Idle())))
    """
    await app.state.kiosk.peers.aclose()
