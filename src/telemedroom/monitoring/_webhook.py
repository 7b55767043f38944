"""Alert events to a webhook: JSON over HTTPS, HMAC-SHA256 signed, retried with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Final

import httpx

from telemedroom._backoff import backoff_delay
from telemedroom.errors import WebhookDeliveryError, WebhookSignatureError
from telemedroom.monitoring._alerts import AlertEvent

SIGNATURE_HEADER: Final = "Telemedroom-Signature"
EVENT_HEADER: Final = "Telemedroom-Event"
# Transient answers worth another try (RFC 9110 §15.5.9 408, RFC 6585 §4 429, 5xx but 501).
_RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds).

    ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>``: the time stamp is
    signed too, so a captured request cannot be replayed later with a new time.

    Examples:
        >>> sign("s3cret", b'{"a":1}', 1764061200)
        't=1764061200,v1=1848459eb56e1e8ed68a23460ee5ebe8348522612d4ee0e849ffc90ab513627d'
    """
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str | bytes, body: bytes, header: str | None, *, now: float | None = None, tolerance: float = 300
) -> int:
    """Check a webhook request's signature, as a receiver does; returns its time stamp.

    Args:
        secret: The shared secret.
        body: The raw request body, exactly as received.
        header: The value of the ``Telemedroom-Signature`` header.
        now: The receiver's time (Unix seconds; default: now).
        tolerance: How old (or how far in the future) a time stamp may be, in seconds.

    Raises:
        WebhookSignatureError: The header is missing or malformed, the signature does
            not match, or the time stamp is outside the tolerance.

    Examples:
        >>> header = sign("s3cret", b"{}", 1764061200)
        >>> verify_signature("s3cret", b"{}", header, now=1764061230)
        1764061200
        >>> from telemedroom.errors import WebhookSignatureError
        >>> try:
        ...     verify_signature("other", b"{}", header, now=1764061230)
        ... except WebhookSignatureError as exc:
        ...     print(exc.reason)
        signature does not match
    """
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise WebhookSignatureError(f"malformed {SIGNATURE_HEADER} header {header!r}") from None
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise WebhookSignatureError("signature does not match")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureError(f"time stamp {timestamp} is more than {tolerance:g} s from now")
    return timestamp


class WebhookSink:
    """An :class:`~telemedroom.monitoring.AlertSink` that POSTs each event as JSON to a URL.

    Each request carries ``Telemedroom-Signature`` (see :func:`sign`; receivers check
    it with :func:`verify_signature`) and ``Telemedroom-Event`` (the event id: a retried
    delivery repeats it, so the receiver can drop duplicates). Network errors and the
    statuses 408, 425, 429 and 5xx (but 501) are retried with exponential backoff
    (``backoff * 2**n`` seconds, at most ``max_backoff``, a ``Retry-After`` in seconds
    is honoured); other 4xx fail at once.

    Args:
        url: Where to POST.
        secret: The shared HMAC secret.
        attempts: Requests in total before giving up.
        backoff: First delay between attempts, in seconds.
        max_backoff: Longest delay.
        http: The httpx client to use (its transport, proxies, TLS settings); default:
            a client of this sink, closed by :meth:`aclose`.
        sleep: Waits between attempts (inject a recorder in tests).
        clock: Unix time for the signature (default :func:`time.time`).

    Raises:
        WebhookDeliveryError: ``url`` is not an http(s) URL (at once, with ``attempts=0``),
            or, from :meth:`deliver`, every attempt failed.

    Examples:
        >>> import asyncio, httpx
        >>> from datetime import datetime, UTC
        >>> from telemedroom.monitoring import EVENT_HEADER, SIGNATURE_HEADER, Alert, AlertEvent
        >>> at = datetime(2026, 11, 25, 8, tzinfo=UTC)
        >>> alert = Alert(id="a1", patient="Patient/p1", rule_id="spo2-low", rule_type="threshold",
        ...               condition="oxygen_saturation.spo2_percent", severity="high",
        ...               message="spo2 89 % below 92", value=89, unit="%", raised_at=at)
        >>> event = AlertEvent(id="e1", type="raised", at=at, alert=alert,
        ...                    recipient="CareTeam/c", actor="monitor")
        >>> seen = []
        >>> def receiver(request):  # a fake receiver, in-process
        ...     verify_signature("s3cret", request.content, request.headers[SIGNATURE_HEADER])
        ...     seen.append(request.headers[EVENT_HEADER])
        ...     return httpx.Response(204)
        >>> async def main():
        ...     async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        ...         await WebhookSink("https://care.example/hook", "s3cret", http=http).deliver(event)
        >>> asyncio.run(main())
        >>> seen
        ['e1']
    """

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise WebhookDeliveryError(url, 0, None, f"not a URL: {exc}") from exc
        if parsed.scheme not in ("https", "http") or not parsed.host:
            raise WebhookDeliveryError(url, 0, None, "not an http(s) URL with a host")
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._secret = _key(secret)
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep
        self._clock = clock

    async def __aenter__(self) -> WebhookSink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, if this sink made it."""
        if self._own:
            await self._http.aclose()

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        seconds = float(retry_after) if retry_after is not None and retry_after.strip().isdigit() else None
        return backoff_delay(attempt, base=self.backoff, cap=self.max_backoff, retry_after=seconds)

    async def deliver(self, event: AlertEvent) -> None:
        """POST the event; retry transient failures.

        Raises:
            WebhookDeliveryError: Every attempt failed, or the receiver refused it (4xx).
        """
        body = event.model_dump_json().encode()
        status: int | None = None
        reason = ""
        cause: Exception | None = None
        retry_after: str | None = None
        for attempt in range(self.attempts):
            if attempt:
                await self._sleep(self._delay(attempt - 1, retry_after))
            retry_after = None
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
                EVENT_HEADER: event.id,
            }
            try:
                response = await self._http.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                status, reason, cause = None, f"{type(exc).__name__}: {exc}", exc
                continue
            if response.is_success:
                return
            status, reason, cause = response.status_code, response.reason_phrase or "error", None
            retry_after = response.headers.get("Retry-After")
            if status not in _RETRY_STATUS:
                raise WebhookDeliveryError(self.url, attempt + 1, status, f"refused: {reason}")
        raise WebhookDeliveryError(self.url, self.attempts, status, reason) from cause
