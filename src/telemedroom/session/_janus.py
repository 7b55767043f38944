"""A small async client of the Janus WebRTC Server's HTTP API and admin API.

Janus API (https://janus.conf.meetecho.com/docs/rest.html): ``create`` a session, ``attach``
a handle to a plugin, send it ``message``\\ s; synchronous plugin requests answer at once,
asynchronous ones (VideoRoom ``join``, ``publish``, ``start``) answer ``ack`` and their
result arrives as an event with the same transaction on the session's long poll
(``GET /janus/<session>``), which also carries unsolicited events (new publishers,
``leaving``, ``hangup``). Errors of Janus and of httpx become :class:`~telemedroom.errors.SfuError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final

import httpx

from telemedroom.errors import SfuError

__all__ = ["JanusAdmin", "JanusHandle", "JanusSession", "VIDEOROOM"]

logger = logging.getLogger(__name__)

VIDEOROOM: Final = "janus.plugin.videoroom"
_POLL_SECONDS: Final = 30  # Janus's long poll answers after at most 30 s
_KEEPALIVE_SECONDS: Final = 25  # under Janus's default session_timeout of 60 s


def _transaction() -> str:
    return secrets.token_hex(8)


def _checked(reply: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The reply, or :class:`SfuError` for a Janus or plugin error in it."""
    if reply.get("janus") == "error":
        error = reply.get("error") or {}
        raise SfuError(int(error.get("code", 0)), f"{what}: {error.get('reason', 'no reason given')}")
    data = (reply.get("plugindata") or {}).get("data") or {}
    if "error_code" in data:
        raise SfuError(int(data["error_code"]), f"{what}: {data.get('error', 'no reason given')}")
    return dict(reply)


class JanusSession:
    """One Janus session over the HTTP API, with its long-poll loop; an async context manager.

    Args:
        url: The Janus API, ``http(s)://host:8088/janus``.
        token: The Janus token (``token_auth``) sent with every request.
        timeout: Seconds a request (not the long poll) may take.

    Examples:
        >>> session = JanusSession("http://127.0.0.1:8088/janus", "t0k3n")
        >>> session.id is None
        True
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.id: int | None = None
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, read=_POLL_SECONDS + timeout))
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._poller: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """POST one Janus request (transaction and token added); the checked reply."""
        request = {**body, "transaction": body.get("transaction") or _transaction()}
        if self.token is not None:
            request["token"] = self.token
        try:
            response = await self._http.post(f"{self.url}{path}", json=request)
            reply = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SfuError(None, f"{what}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(reply, dict):
            raise SfuError(None, f"{what}: Janus answered {type(reply).__name__}, not a JSON object")
        return _checked(reply, what)

    async def open(self) -> JanusSession:
        """Create the session and start polling its events."""
        try:
            reply = await self.post("", {"janus": "create"}, "create session")
        except BaseException:
            await self._http.aclose()
            raise
        self.id = int(reply["data"]["id"])
        self._poller = asyncio.create_task(self._poll())
        self._keepalive = asyncio.create_task(self._keep_alive())
        return self

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        """A new handle on ``plugin``."""
        reply = await self.post(f"/{self.id}", {"janus": "attach", "plugin": plugin}, f"attach {plugin}")
        handle = JanusHandle(self, int(reply["data"]["id"]))
        self._handles[handle.id] = handle
        return handle

    def expect(self, transaction: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the event that answers ``transaction``."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        return future

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(_KEEPALIVE_SECONDS)
            with contextlib.suppress(SfuError):
                await self.post(f"/{self.id}", {"janus": "keepalive"}, "keepalive")

    async def _poll(self) -> None:
        params = {"maxev": "10", **({"token": self.token} if self.token is not None else {})}
        failures = 0
        try:
            while True:
                try:
                    response = await self._http.get(f"{self.url}/{self.id}", params=params)
                except httpx.HTTPError as exc:
                    failures += 1
                    if failures >= 3:
                        logger.warning("janus session %s: long poll failed: %r", self.id, exc)
                        return
                    continue
                failures = 0
                try:
                    events = response.json()
                except ValueError:
                    return  # Janus no longer knows the session (destroyed, timed out)
                for event in events if isinstance(events, list) else [events]:
                    if isinstance(event, dict):
                        self._dispatch(event)
                if isinstance(events, dict) and events.get("janus") == "error":
                    return  # the session is gone (e.g. destroyed or timed out)
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SfuError(None, "the Janus session ended"))
            for handle in self._handles.values():
                handle.gone.set()

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("janus")
        if kind in ("keepalive", "ack"):
            return
        future = self._pending.pop(str(event.get("transaction", "")), None)
        if future is not None and not future.done() and kind in ("event", "error", "success"):
            future.set_result(event)
            return
        handle = self._handles.get(int(event.get("sender", 0) or 0))
        if handle is not None:
            handle.deliver(event)

    async def aclose(self) -> None:
        """Destroy the session (Janus hangs up its handles) and stop polling; safe twice."""
        for task in (self._keepalive, self._poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._keepalive = self._poller = None
        if self.id is not None:
            with contextlib.suppress(SfuError):
                await self.post(f"/{self.id}", {"janus": "destroy"}, "destroy session")
            self.id = None
        await self._http.aclose()

    async def __aenter__(self) -> JanusSession:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class JanusHandle:
    """A handle on a plugin: synchronous requests, asynchronous messages and its events.

    Attributes:
        events: Unsolicited events for this handle (new publishers, ``leaving``, ``hangup``, ...).
        gone: Set once Janus says the handle hung up or was detached, or the session ended.
    """

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()

    def deliver(self, event: dict[str, Any]) -> None:
        if event.get("janus") in ("hangup", "detached"):
            self.gone.set()
        self.events.put_nowait(event)

    @property
    def _path(self) -> str:
        return f"/{self.session.id}/{self.id}"

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (``create``, ``list``, ``kick``, ``allowed``...); its data."""
        reply = await self.session.post(
            self._path, {"janus": "message", "body": body}, str(body.get("request"))
        )
        data: dict[str, Any] = (reply.get("plugindata") or {}).get("data") or {}
        return data

    async def message(
        self, body: dict[str, Any], jsep: dict[str, str] | None = None, *, timeout: float = 30.0
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An asynchronous plugin request (``join``, ``publish``, ``start``); the event's data and JSEP.

        Raises:
            SfuError: Janus refused it (its code), or no answer within ``timeout`` seconds.
        """
        transaction = _transaction()
        future = self.session.expect(transaction)
        request: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        what = str(body.get("request"))
        try:
            reply = await self.session.post(self._path, request, what)
            if reply.get("janus") != "ack":  # answered synchronously
                event = reply
            else:
                async with asyncio.timeout(timeout):
                    event = await future
        except TimeoutError as exc:
            raise SfuError(None, f"{what}: no answer from Janus within {timeout} s") from exc
        finally:
            self.session._pending.pop(transaction, None)
        event = _checked(event, what)
        data: dict[str, Any] = (event.get("plugindata") or {}).get("data") or {}
        return data, event.get("jsep")

    async def trickle_done(self) -> None:
        """Tell Janus no more ICE candidates follow (ours were all in the SDP)."""
        await self.session.post(self._path, {"janus": "trickle", "candidate": {"completed": True}}, "trickle")

    async def detach(self) -> None:
        """Detach the handle (Janus hangs up its PeerConnection)."""
        with contextlib.suppress(SfuError):
            await self.session.post(self._path, {"janus": "detach"}, "detach")
        self.gone.set()


class JanusAdmin:
    """Janus's admin API: stored tokens (``add_token``/``remove_token``) and server info.

    Args:
        url: The admin API, ``http(s)://host:7088/admin``.
        secret: Its ``admin_secret``.

    Examples:
        >>> JanusAdmin("http://127.0.0.1:7088/admin", "s3cret").url
        'http://127.0.0.1:7088/admin'
    """

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout)

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """One admin request (``list_sessions``, ``handle_info``, ...); the checked reply."""
        what = str(body["janus"])
        try:
            response = await self._http.post(
                self.url, json={**body, "transaction": _transaction(), "admin_secret": self._secret}
            )
            reply = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SfuError(None, f"admin {what}: {type(exc).__name__}: {exc}") from exc
        return _checked(reply, f"admin {what}")

    async def add_token(self, token: str, plugins: tuple[str, ...] = (VIDEOROOM,)) -> None:
        """Let ``token`` use Janus, and only ``plugins``."""
        await self.call({"janus": "add_token", "token": token, "plugins": list(plugins)})

    async def remove_token(self, token: str) -> None:
        """Revoke ``token``: Janus refuses every further request that carries it."""
        with contextlib.suppress(SfuError):
            await self.call({"janus": "remove_token", "token": token})

    async def tokens(self) -> list[str]:
        """The stored tokens."""
        reply = await self.call({"janus": "list_tokens"})
        return [entry["token"] for entry in reply.get("data", {}).get("tokens", [])]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
