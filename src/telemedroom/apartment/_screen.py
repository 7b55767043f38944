"""The patient's screen: a page on the apartment's tablet, served on loopback (extra ``server``).

Routes:

- ``GET /screen/``: the page (static HTML/CSS/JS, strict Content-Security-Policy, no
  external resources; ``?lang=de|en`` picks the language);
- ``GET /screen/texts.json``: every string of the page, one table per language;
- ``GET /screen/state.json``: what the page shows (:meth:`Apartment.state`);
- ``WS /screen/events``: each :data:`~telemedroom.apartment.ApartmentEvent` as JSON (the
  page fetches the state again on each);
- ``POST /screen/call`` ``{"action": "call" | "accept" | "decline" | "hang_up"}``: 204,
  409 when the line is in another state, 503 when no ward line is configured;
- ``POST /screen/webrtc`` ``{"sdp": ..., "type": "offer"}``: during a call, the answer of
  the screen's loopback peer, which sends the self-view and the ward's video and voice
  (:meth:`WardLine.screen_tracks`; ``telemedroom._loopback``, shared with the kiosk).

As the kiosk's page, it serves loopback clients only (unless ``allow_remote``) and
refuses browser requests from another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from telemedroom.errors import MissingExtraError

try:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket
except ImportError as _exc:
    raise MissingExtraError("server", "the apartment's screen (telemedroom.apartment.screen_app)") from _exc

from telemedroom._loopback import VIDEO_JS, KioskPeers, KioskTracks, answer_offer
from telemedroom._web import LoopbackOnly, json_body, same_origin, stream_events, with_headers
from telemedroom.apartment._texts import LANGUAGES, TEXTS

if TYPE_CHECKING:
    from telemedroom.apartment._apartment import Apartment

__all__ = ["close_screen", "screen_app"]

_STATIC: Final = Path(__file__).with_name("static")
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
_REFUSAL: Final = "the screen serves only this machine"
# action -> (call states it is allowed in, what the ward line does)
_ACTIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "call": (frozenset({"idle", "ended", "failed"}), "call"),
    "accept": (frozenset({"ringing"}), "call"),
    "decline": (frozenset({"ringing"}), "decline"),
    "hang_up": (frozenset({"calling", "in_call"}), "hang_up"),
}


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"reason": reason}, status_code=status, headers=_PAGE_HEADERS)


class _Screen:
    def __init__(self, apartment: Apartment) -> None:
        self.apartment = apartment
        self._tasks: set[asyncio.Task[None]] = set()
        self.peers = KioskPeers(self._tracks)

    def _tracks(self) -> KioskTracks:
        ward = self.apartment.ward
        return ward.screen_tracks() if ward is not None else KioskTracks()

    async def webrtc(self, request: Request) -> Response:
        return await answer_offer(self.peers, request, _PAGE_HEADERS)

    async def video_js(self, _request: Request) -> FileResponse:
        return FileResponse(VIDEO_JS, media_type="text/javascript", headers=_PAGE_HEADERS)

    async def texts(self, _request: Request) -> JSONResponse:
        data = {"default": self.apartment.config.language, "languages": list(LANGUAGES), "texts": TEXTS}
        return JSONResponse(data, headers=_PAGE_HEADERS)

    async def state(self, _request: Request) -> JSONResponse:
        return JSONResponse(await self.apartment.state(), headers=_PAGE_HEADERS)

    async def call(self, request: Request) -> Response:
        if not same_origin(request):
            return _refuse(403, "cross_origin")
        data = await json_body(request)
        action = None if data is None else data.get("action")
        if not isinstance(action, str) or action not in _ACTIONS:
            return _refuse(400, "bad_request")
        ward = self.apartment.ward
        if ward is None:
            return _refuse(503, "no_ward_line")
        allowed, method = _ACTIONS[action]
        if self.apartment.call_state.state not in allowed:
            return _refuse(409, self.apartment.call_state.state)
        # hanging up waits for the call to close: not on the request
        task = asyncio.create_task(getattr(ward, method)())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=204, headers=_PAGE_HEADERS)

    async def events(self, websocket: WebSocket) -> None:
        await stream_events(websocket, self.apartment.events)


def screen_app(apartment: Apartment, *, allow_remote: bool = False) -> Starlette:
    """The patient's screen of ``apartment``, answering under ``/screen/`` (see the module docstring).

    Args:
        apartment: The open apartment.
        allow_remote: Serve clients other than loopback ones too (a tablet that is not
            the gateway itself; put TLS in front of it).

    Examples:
        >>> import asyncio, base64, httpx, pathlib, tempfile
        >>> from telemedroom.apartment import Apartment, ApartmentConfig
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "plan.toml").write_text('patient = "Patient/p1"\\ncare_team = "CareTeam/w3"\\n'
        ...     'rules = []\\n')
        >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", data_dir=folder,
        ...     care_plan=folder / "plan.toml", encryption_key=base64.b64encode(bytes(32)).decode())
        >>> async def main():
        ...     async with Apartment(config) as apartment:
        ...         transport = httpx.ASGITransport(screen_app(apartment))
        ...         async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        ...             page = await http.get("/screen/")
        ...             state = (await http.get("/screen/state.json")).json()
        ...     policy = page.headers["content-security-policy"]
        ...     return page.status_code, "script-src 'self'" in policy, state["call"]
        >>> asyncio.run(main())
        (200, True, {'state': 'unavailable', 'reason': None, 'participants': []})
    """
    screen = _Screen(apartment)

    async def root(_request: Request) -> RedirectResponse:
        return RedirectResponse("/screen/")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await screen.peers.aclose()

    page = with_headers(StaticFiles(directory=_STATIC, html=True), _PAGE_HEADERS)
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/screen/texts.json", screen.texts),
            Route("/screen/state.json", screen.state),
            Route("/screen/call", screen.call, methods=["POST"]),
            Route("/screen/webrtc", screen.webrtc, methods=["POST"]),
            Route("/screen/video.js", screen.video_js),
            WebSocketRoute("/screen/events", screen.events),
            Mount("/screen", page, name="screen"),
        ],
        middleware=[
            Middleware(LoopbackOnly, allow_remote=allow_remote, refusal="the screen serves only this machine")
        ],
        lifespan=lifespan,
    )
    app.state.screen = screen
    return app


async def close_screen(app: Starlette) -> None:
    """Close the screen app's video connections (uvicorn's lifespan does it when it serves the app).

    Examples:
        >>> import asyncio, base64
        >>> from telemedroom.apartment import Apartment, ApartmentConfig
        >>> config = ApartmentConfig(apartment_id="apt-2", patient="Patient/p1", care_plan="plan.toml",
        ...     data_dir="/var/lib/apartment", encryption_key=base64.b64encode(bytes(32)).decode())
        >>> app = screen_app(Apartment(config))
        >>> asyncio.run(close_screen(app)); app.state.screen.peers.open
        0
    """
    await app.state.screen.peers.aclose()
