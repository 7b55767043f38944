"""Webhook delivery: signed, retried with backoff, refused for good on 4xx.

The receiver is a fake: an in-process httpx MockTransport handler that verifies the
signature as a real receiver would (with ``verify_signature``) and answers as scripted.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom import errors
from telemedroom.monitoring import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    Alert,
    AlertEvent,
    WebhookSink,
    sign,
    verify_signature,
)

SECRET = "whsec-test-3f9a"
NOW = 1_764_061_200.0
AT = datetime(2026, 11, 25, 8, tzinfo=UTC)
ALERT = Alert(id="a1", patient="Patient/p1", rule_id="spo2-low", rule_type="threshold",
              condition="oxygen_saturation.spo2_percent", severity="high", message="SpO2 89 % below 92",
              value=89, unit="%", raised_at=AT)  # fmt: skip
EVENT = AlertEvent(id="e1", type="raised", at=AT, alert=ALERT, recipient="CareTeam/c", actor="monitor")


class Receiver:
    """A fake webhook receiver: verifies each request, answers with the scripted statuses."""

    def __init__(self, *answers: int | Exception, retry_after: str | None = None) -> None:
        self.answers = list(answers)
        self.retry_after = retry_after
        self.received: list[tuple[str, dict[str, object]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        verify_signature(SECRET, request.content, request.headers.get(SIGNATURE_HEADER), now=NOW)
        self.received.append((request.headers[EVENT_HEADER], json.loads(request.content)))
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return httpx.Response(answer, headers=headers)


async def deliver(receiver: Receiver, **options: object) -> list[float]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        sink = WebhookSink(
            "https://care.example/hook", SECRET, http=http, sleep=sleep, clock=lambda: NOW, **options
        )  # type: ignore[arg-type]
        await sink.deliver(EVENT)
    return waits


def test_the_receiver_gets_the_event_signed() -> None:
    receiver = Receiver(200)
    assert asyncio.run(deliver(receiver)) == []
    [(event_id, body)] = receiver.received
    assert event_id == "e1"
    assert AlertEvent.model_validate(body) == EVENT


def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    receiver = Receiver(503, httpx.ConnectError("refused"), 429, 502, 200)
    waits = asyncio.run(deliver(receiver, attempts=5, backoff=0.5))
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert [event_id for event_id, _ in receiver.received] == ["e1"] * 5  # the same id: receiver can dedupe


def test_retry_after_is_honoured_and_capped() -> None:
    assert asyncio.run(deliver(Receiver(503, 200, retry_after="7"))) == [7.0]
    assert asyncio.run(deliver(Receiver(503, 200, retry_after="7200"), max_backoff=60)) == [60.0]


def test_giving_up_raises_a_delivery_error_with_the_last_status() -> None:
    with pytest.raises(errors.WebhookDeliveryError) as info:
        asyncio.run(deliver(Receiver(503, 503, 503), attempts=3))
    assert (info.value.url, info.value.attempts, info.value.status) == ("https://care.example/hook", 3, 503)


def test_a_network_error_at_the_end_is_chained() -> None:
    with pytest.raises(errors.WebhookDeliveryError) as info:
        asyncio.run(deliver(Receiver(httpx.ConnectError("refused"), httpx.ReadTimeout("slow")), attempts=2))
    assert info.value.status is None
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert "ReadTimeout" in info.value.reason


def test_a_client_error_is_not_retried() -> None:
    receiver = Receiver(401)
    with pytest.raises(errors.WebhookDeliveryError) as info:
        asyncio.run(deliver(receiver))
    assert (info.value.attempts, info.value.status) == (1, 401)
    assert len(receiver.received) == 1


def test_signature_refusals() -> None:
    body = b'{"x":1}'
    header = sign(SECRET, body, int(NOW))
    assert verify_signature(SECRET, body, header, now=NOW + 299) == int(NOW)
    for bad_header, reason in [
        (None, "no Telemedroom-Signature header"),
        ("v1=abc", "malformed"),
        ("t=soon,v1=abc", "malformed"),
        (header.replace("v1=", "v1=0"), "does not match"),
    ]:
        with pytest.raises(errors.WebhookSignatureError, match=reason):
            verify_signature(SECRET, body, bad_header, now=NOW)
    with pytest.raises(errors.WebhookSignatureError, match="does not match"):
        verify_signature(SECRET, b'{"x":2}', header, now=NOW)
    with pytest.raises(errors.WebhookSignatureError, match="more than 300 s"):
        verify_signature(SECRET, body, header, now=NOW + 301)


@given(body=st.binary(max_size=200), flip=st.integers(0, 10_000), stamp=st.integers(0, 2**40))
def test_any_change_to_the_body_breaks_the_signature(body: bytes, flip: int, stamp: int) -> None:
    header = sign(SECRET, body, stamp)
    assert verify_signature(SECRET, body, header, now=stamp) == stamp
    if body:
        changed = bytearray(body)
        changed[flip % len(body)] ^= 1 << (flip % 8)
        with pytest.raises(errors.WebhookSignatureError):
            verify_signature(SECRET, bytes(changed), header, now=stamp)


@pytest.mark.parametrize("url", ["ftp://care.example/hook", "https://[::1/hook", "/relative", "http://"])
def test_a_url_that_cannot_take_a_post_is_refused_at_once(url: str) -> None:
    with pytest.raises(errors.WebhookDeliveryError) as info:
        WebhookSink(url, SECRET)
    assert (info.value.url, info.value.attempts) == (url, 0)


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        WebhookSink("https://care.example/hook", SECRET, attempts=0)


async def test_an_own_client_is_closed() -> None:
    async with WebhookSink("https://care.example/hook", SECRET) as sink:
        assert not sink._http.is_closed
    assert sink._http.is_closed
