"""An async FHIR R4 REST client on httpx: read, search, create, update, transaction.

Error answers become typed errors carrying the server's ``OperationOutcome`` issues
(:class:`~telemedroom.errors.FhirServerError` and its 404/409/410/412 subclasses),
network failures a :class:`~telemedroom.errors.FhirConnectionError`. Requests that are
safe to repeat (reads, searches, updates, conditional creates, and transactions whose
creates are all conditional) are retried with exponential backoff on 429, 502, 503 and
504, honouring ``Retry-After``.

Examples:
    >>> import asyncio
    >>> from telemedroom.testing import FakeFhirServer
    >>> async def main():
    ...     server = FakeFhirServer()
    ...     async with FhirClient(server.base_url, transport=server.transport()) as fhir:
    ...         created = await fhir.create({"resourceType": "Patient", "active": True})
    ...         again = await fhir.read("Patient", created.id)
    ...         return again.active
    >>> asyncio.run(main())
    True
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from telemedroom._backoff import backoff_delay
from telemedroom.errors import (
    FhirConnectionError,
    FhirError,
    FhirMappingError,
    FhirServerError,
    OperationOutcomeIssue,
    PreconditionFailed,
    ResourceConflict,
    ResourceGone,
    ResourceNotFound,
)
from telemedroom.fhir._json import dumps
from telemedroom.fhir._plan import PROFILES, ServerProfile

__all__ = ["BearerToken", "FhirAuth", "FhirClient", "Retry", "transaction_is_idempotent"]

FHIR_JSON = "application/fhir+json"
# FHIR R4 http.html: status -> the error a caller can catch.
_ERRORS: dict[int, type[FhirServerError]] = {
    404: ResourceNotFound,
    409: ResourceConflict,
    410: ResourceGone,
    412: PreconditionFailed,
}
_RETRY_STATUS = frozenset({429, 502, 503, 504})


class FhirAuth:
    """How requests get their ``Authorization`` header; subclass for other schemes.

    Examples:
        >>> import asyncio
        >>> asyncio.run(FhirAuth().authorization(None, "https://fhir.example")) is None
        True
    """

    async def authorization(self, http: httpx.AsyncClient | None, base_url: str) -> str | None:
        """The header value for the next request, or ``None`` for none."""
        return None

    def invalidate(self) -> None:
        """Forget a cached credential (called after a 401), so the next call gets a new one."""


class BearerToken(FhirAuth):
    """A fixed bearer token (e.g. from your identity provider or a test server).

    Examples:
        >>> import asyncio
        >>> asyncio.run(BearerToken("s3cr3t").authorization(None, "https://fhir.example"))
        'Bearer s3cr3t'
    """

    def __init__(self, token: str) -> None:
        self._token = token

    async def authorization(self, http: httpx.AsyncClient | None, base_url: str) -> str | None:
        """``Bearer <token>``."""
        return f"Bearer {self._token}"


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Retry:
    """When and how long to wait before repeating a request the server refused for now.

    Attributes:
        attempts: Tries in total, the first included.
        backoff: The first wait in seconds; it doubles each time (with up to 10 % jitter).
        max_delay: No single wait is longer, whatever ``Retry-After`` says.
        sleep: The awaitable used to wait (tests pass one that records the delays).

    Examples:
        >>> 2.0 <= Retry().delay(2, None) <= 2.2
        True
        >>> Retry(backoff=1.0).delay(0, "7")
        7.0
    """

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=_sleep)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before try ``attempt + 1``: ``Retry-After`` if sent, else backoff."""
        seconds = None if retry_after is None else _parse_retry_after(retry_after)
        return backoff_delay(attempt, base=self.backoff, cap=self.max_delay, retry_after=seconds, jitter=0.1)


def _parse_retry_after(value: str) -> float | None:
    # RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def _issues(outcome: Mapping[str, Any] | None) -> tuple[OperationOutcomeIssue, ...]:
    if not outcome:
        return ()
    return tuple(
        OperationOutcomeIssue(
            severity=str(issue.get("severity", "error")),
            code=str(issue.get("code", "unknown")),
            diagnostics=issue.get("diagnostics") or (issue.get("details") or {}).get("text"),
            expression=tuple(issue.get("expression", ())),
        )
        for issue in outcome.get("issue", [])
        if isinstance(issue, Mapping)
    )


def _server_error(response: httpx.Response) -> FhirServerError:
    """The typed error for a non-2xx answer, with its OperationOutcome parsed."""
    outcome: dict[str, Any] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        outcome = body
    error = _ERRORS.get(response.status_code, FhirServerError)
    return error(
        response.status_code, response.request.method, str(response.request.url), _issues(outcome), outcome
    )


def _to_model(data: Any, url: str) -> Resource:
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirMappingError("Resource", f"the answer from {url} is not a FHIR resource")
    try:
        model = get_fhir_model_class(data["resourceType"])
        resource = model.model_validate(data)
    except (KeyError, ValueError) as exc:
        raise FhirMappingError(str(data["resourceType"]), f"invalid resource from {url}: {exc}") from exc
    assert isinstance(resource, Resource)
    return resource


def _body(resource: Resource | Mapping[str, Any] | bytes) -> bytes:
    if isinstance(resource, bytes):
        return resource
    if isinstance(resource, Mapping):
        return dumps(dict(resource))
    return resource.model_dump_json().encode()


def _identity(body: bytes) -> tuple[str, str | None]:
    """The resourceType and id of a resource given as JSON bytes."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FhirMappingError("Resource", f"not JSON: {exc}") from exc
    kind = data.get("resourceType") if isinstance(data, dict) else None
    if not isinstance(kind, str):
        raise FhirMappingError("Resource", "a resource needs a resourceType")
    rid = data.get("id")
    return kind, rid if isinstance(rid, str) else None


def transaction_is_idempotent(body: bytes) -> bool:
    """Whether a transaction Bundle (JSON bytes) is safe to send again: every create is conditional.

    Examples:
        >>> transaction_is_idempotent(b'{"entry": [{"request": {"method": "PUT", "url": "Patient/1"}}]}')
        True
    """
    try:
        entries = json.loads(body).get("entry", [])
    except (ValueError, AttributeError):
        return False
    return all(
        e.get("request", {}).get("method") != "POST" or e.get("request", {}).get("ifNoneExist")
        for e in entries
        if isinstance(e, dict)
    )


class FhirClient:
    """An async client for one FHIR R4 server.

    Args:
        base_url: The server's FHIR base, e.g. ``https://hapi.example/fhir``.
        auth: Where the ``Authorization`` header comes from (:class:`BearerToken`,
            :class:`~telemedroom.fhir.SmartBackendAuth`), or ``None``.
        timeout: Seconds for each request.
        retry: The retry policy for requests that are safe to repeat.
        transport: An httpx transport (tests pass ``FakeFhirServer().transport()``).
        headers: Extra headers for every request.
        profile: What the server accepts in a transaction (limits, update-as-create): the
            outbox cuts its bundles to fit (:class:`~telemedroom.fhir.ServerProfile`;
            default ``generic``, no limits).

    Examples:
        >>> FhirClient("https://fhir.example/r4/").base_url
        'https://fhir.example/r4'
        >>> FhirClient("https://fhir.example/r4", profile=ServerProfile.named("medplum")).profile.name
        'medplum'
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: FhirAuth | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        profile: ServerProfile | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.profile = profile or PROFILES["generic"]
        self.auth = auth or FhirAuth()
        self.retry = retry or Retry()
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            headers={"Accept": FHIR_JSON, **(headers or {})},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (shared with SMART token requests)."""
        return self._http

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request (with auth and retries) and return the 2xx response.

        Raises:
            FhirServerError: The server answered an error status (404, 409, 410 and 412
                as their subclasses), after retries where they apply.
            FhirConnectionError: The server could not be reached.
            FhirAuthError: No access token could be obtained.
        """
        url = self._url(path)
        repeatable = method in {"GET", "HEAD", "PUT", "DELETE"} if idempotent is None else idempotent
        send_headers = dict(headers or {})
        if content is not None:
            send_headers.setdefault("Content-Type", FHIR_JSON)
        reauthenticated = False
        attempt = 0
        while True:
            # Never hand the token to another host (a next link could point anywhere).
            if url.startswith(self.base_url):
                authorization = await self.auth.authorization(self._http, self.base_url)
                if authorization is not None:
                    send_headers["Authorization"] = authorization
            else:
                send_headers.pop("Authorization", None)
            try:
                response = await self._http.request(
                    method, url, params=params, content=content, headers=send_headers
                )
            except httpx.TransportError as exc:
                if repeatable and attempt + 1 < self.retry.attempts:
                    await self.retry.sleep(self.retry.delay(attempt, None))
                    attempt += 1
                    continue
                raise FhirConnectionError(url, f"{type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and not reauthenticated:
                # An expired or revoked token: fetch a new one once.
                reauthenticated = True
                self.auth.invalidate()
                continue
            if response.is_success:
                return response
            if response.status_code in _RETRY_STATUS and repeatable and attempt + 1 < self.retry.attempts:
                await self.retry.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            raise _server_error(response)

    async def _resource(self, method: str, path: str, **kwargs: Any) -> Resource:
        response = await self.request(method, path, **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise FhirMappingError("Resource", f"the answer to {method} {path} is not JSON") from exc
        return _to_model(data, str(response.request.url))

    async def capabilities(self) -> Resource:
        """The server's CapabilityStatement (``GET [base]/metadata``).

        Examples:
            >>> import asyncio
            >>> from telemedroom.testing import FakeFhirServer
            >>> server = FakeFhirServer()
            >>> async def main():
            ...     async with FhirClient(server.base_url, transport=server.transport()) as fhir:
            ...         return (await fhir.capabilities()).fhirVersion
            >>> asyncio.run(main())
            '4.0.1'
        """
        return await self._resource("GET", "metadata")

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        """Read one resource (``GET [base]/[type]/[id]``).

        Raises:
            ResourceNotFound: No such resource.
            ResourceGone: It was deleted.
        """
        return await self._resource("GET", f"{resource_type}/{resource_id}")

    async def search(
        self, resource_type: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[Resource]:
        """Search, yielding every match and following ``Bundle.link[next]`` page by page.

        Examples:
            >>> import asyncio
            >>> from telemedroom.testing import FakeFhirServer
            >>> server = FakeFhirServer()
            >>> async def main():
            ...     async with FhirClient(server.base_url, transport=server.transport()) as fhir:
            ...         for n in range(3):
            ...             await fhir.create({"resourceType": "Patient", "gender": "other"})
            ...         return [p.gender async for p in fhir.search("Patient", {"_count": "2"})]
            >>> asyncio.run(main())
            ['other', 'other', 'other']
        """
        url: str | None = resource_type
        query: Mapping[str, str] | None = params
        while url is not None:
            page = await self._resource("GET", url, params=query)
            if not isinstance(page, Bundle):
                raise FhirMappingError(page.get_resource_type(), "a search must answer with a Bundle")
            for entry in page.entry or ():
                if entry.resource is not None and (entry.search is None or entry.search.mode != "outcome"):
                    yield entry.resource
            url = next((link.url for link in page.link or () if link.relation == "next"), None)
            query = None  # the next link carries the query

    async def create(
        self, resource: Resource | Mapping[str, Any] | bytes, *, if_none_exist: str | None = None
    ) -> Resource:
        """Create a resource; with ``if_none_exist`` only when no resource matches that query.

        A conditional create is safe to repeat, so it is retried like a read.

        Raises:
            PreconditionFailed: ``if_none_exist`` matched more than one resource.
        """
        body = _body(resource)
        kind, _id = _identity(body)
        headers = {"Prefer": "return=representation"}
        if if_none_exist is not None:
            headers["If-None-Exist"] = if_none_exist
        return await self._resource(
            "POST", kind, content=body, headers=headers, idempotent=if_none_exist is not None
        )

    async def update(
        self, resource: Resource | Mapping[str, Any], *, if_match: str | None = None
    ) -> Resource:
        """Update (or create with a client id) a resource: ``PUT [base]/[type]/[id]``.

        Args:
            resource: The resource, with its ``id``.
            if_match: A version id; the server refuses (412) when the resource changed since.

        Raises:
            PreconditionFailed: The version did not match.
            ResourceConflict: The server refused the version (409).
        """
        body = _body(resource)
        kind, rid = _identity(body)
        if rid is None:
            raise FhirMappingError(kind, "an update needs the resource's id")
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = f'W/"{if_match}"'
        return await self._resource("PUT", f"{kind}/{rid}", content=body, headers=headers)

    async def transaction(self, bundle: Bundle | Mapping[str, Any] | bytes) -> Bundle:
        """Post a transaction Bundle; all of it succeeds or none of it.

        It is retried on 429/5xx only when every create in it is conditional.

        Returns:
            The ``transaction-response`` Bundle.
        """
        body = _body(bundle)
        result = await self._resource(
            "POST",
            "",
            content=body,
            headers={"Prefer": "return=minimal"},
            idempotent=transaction_is_idempotent(body),
        )
        if not isinstance(result, Bundle):
            raise FhirError(f"the transaction at {self.base_url} did not answer with a Bundle")
        return result
