"""A faithful in-process FHIR R4 server for tests: an httpx ``MockTransport`` handler.

It is a *fake*: it stands in for a hospital's FHIR server (HAPI, Medplum, a cloud
service) that tests cannot reach. What it does, it does as FHIR R4 says
(``http.html``): create (with ``If-None-Exist``), read (404, 410 after delete), update
(with ``If-Match``, 412 on a version mismatch), delete, search with paging through
``Bundle.link[next]``, transaction Bundles processed atomically with ``urn:uuid``
reference resolution and conditional creates, every error as an ``OperationOutcome``,
resources validated with ``fhir.resources``. On demand it answers 429/503 with
``Retry-After``, or is unreachable. It runs a SMART Backend Services token endpoint
that verifies the RS384/ES384 signature of the client assertion with the registered
public key. With ``path`` it keeps what it holds in a JSON file, written atomically
after every change, so a test can kill the process using it and look afterwards.

``strict=True`` switches on the rules real servers enforce beyond the specification,
each also switchable on its own:

- ``referential_integrity``: every relative reference (``Type/id``) in a written resource
  must resolve, in the transaction or on the server, else 400. HAPI FHIR JPA server's
  default (``JpaStorageSettings.setEnforceReferentialIntegrityOnWrite(true)``: "Resource
  Patient/x not found, specified in path: Observation.subject").
- ``max_conditional_entries`` (8) and ``max_updates`` (50): Medplum's transaction limits
  (``packages/fhir-router/src/batch.ts``: a transaction with a conditional entry may hold
  at most ``maxSerializableTransactionEntries`` = 8 entries, and at most ``maxUpdates`` = 50
  updates), with Medplum's messages, 400.
- ``update_create=False``: a ``PUT`` to an id that does not exist is refused with 404, as
  Medplum's server does for clients that may not set ids (``packages/server/src/fhir/repo.ts``
  ``checkExistingResource``); the CapabilityStatement then says ``updateCreate: false``.
- ``If-None-Exist`` and conditional updates matching several resources answer 412
  (FHIR R4 http.html §3.1.0.8; always on).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fhir.resources.R4B import get_fhir_model_class

__all__ = ["FakeFhirServer"]

Json = dict[str, Any]
_SEARCH_PARAMS = frozenset(
    {"_id", "identifier", "subject", "patient", "code", "_count", "_offset", "device", "target", "_tag"}
)
# Medplum, packages/fhir-router/src/batch.ts: maxSerializableTransactionEntries, maxUpdates.
MEDPLUM_MAX_CONDITIONAL_ENTRIES = 8
MEDPLUM_MAX_UPDATES = 50
_CAPABLE = (
    "Observation", "Device", "Patient", "Provenance", "Encounter", "Media", "QuestionnaireResponse",
    "Flag", "Communication", "DetectedIssue", "Appointment", "Slot", "Schedule",
)  # fmt: skip
_OPEN = ("metadata", ".well-known/smart-configuration", "auth/token")


def _outcome(
    status: int,
    code: str,
    diagnostics: str,
    expression: Iterable[str] = (),
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    issue: Json = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return _json(status, {"resourceType": "OperationOutcome", "issue": [issue]}, headers)


def _json(status: int, body: Json, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json", **(headers or {})},
    )


class _Fail(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def _split_token(value: str) -> list[str]:
    # FHIR search §3.1.1.5.7: "\|" "\," "\$" "\\" are escapes inside a token.
    parts, current, escaped = [], "", False
    for ch in value:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeFhirServer:
    """A FHIR R4 server in memory (optionally persisted), served through httpx.

    Args:
        base_url: The FHIR base the client uses.
        path: A JSON file to keep the store in across processes, or ``None``.
        page_size: Default search page size (``_count`` overrides it).
        require_auth: Demand a bearer token from the SMART token endpoint.
        token_lifetime: Seconds an issued access token is valid.
        validate: Validate every stored resource with ``fhir.resources``.
        strict: Switch on every rule below (each can still be set on its own).
        referential_integrity: Refuse a write whose relative references do not resolve (HAPI).
        max_conditional_entries: Entries allowed in a transaction holding a conditional
            entry (Medplum: 8); ``None``: no limit.
        max_updates: Updates allowed in one transaction (Medplum: 50); ``None``: no limit.
        update_create: Create on a ``PUT`` to an unknown id (``False``: 404, as Medplum).

    Examples:
        >>> import asyncio, httpx
        >>> server = FakeFhirServer()
        >>> async def main():
        ...     async with httpx.AsyncClient(transport=server.transport()) as http:
        ...         r = await http.get(server.base_url + "/Patient/nobody")
        ...         return r.status_code, r.json()["issue"][0]["code"]
        >>> asyncio.run(main())
        (404, 'not-found')
        >>> strict = FakeFhirServer(strict=True)
        >>> strict.referential_integrity, strict.max_conditional_entries, strict.update_create
        (True, 8, False)
    """

    def __init__(
        self,
        base_url: str = "https://fhir.example/r4",
        *,
        path: str | os.PathLike[str] | None = None,
        page_size: int = 50,
        require_auth: bool = False,
        token_lifetime: int = 300,
        validate: bool = True,
        strict: bool = False,
        referential_integrity: bool | None = None,
        max_conditional_entries: int | None = None,
        max_updates: int | None = None,
        update_create: bool | None = None,
    ) -> None:
        self.strict = strict
        self.referential_integrity = strict if referential_integrity is None else referential_integrity
        self.max_conditional_entries = max_conditional_entries or (
            MEDPLUM_MAX_CONDITIONAL_ENTRIES if strict else None
        )
        self.max_updates = max_updates or (MEDPLUM_MAX_UPDATES if strict else None)
        self.update_create = (not strict) if update_create is None else update_create
        self.base_url = base_url.rstrip("/")
        self._prefix = urlsplit(self.base_url).path.rstrip("/")
        self.path = Path(path) if path is not None else None
        self.page_size = page_size
        self.require_auth = require_auth
        self.token_lifetime = token_lifetime
        self.validate = validate
        self.unreachable = False
        self.requests: list[tuple[str, str]] = []
        self._failures: deque[tuple[int, str | None]] = deque()
        self._store: dict[str, dict[str, Json]] = {}
        # (type, identifier system, value) -> ids: conditional creates stay O(1) at 10k+ resources
        self._by_identifier: dict[tuple[str, str, str], set[str]] = {}
        self._deleted: set[tuple[str, str]] = set()
        self._next_id = 1
        self._clients: dict[str, Any] = {}
        self._tokens: dict[str, float] = {}
        self._jtis: set[str] = set()
        if self.path is not None and self.path.exists():
            saved = json.loads(self.path.read_text())
            self._deleted = {(t, i) for t, i in saved["deleted"]}
            for kind, held in saved["store"].items():
                for resource in held.values():
                    self._keep(kind, resource)
            self._next_id = saved["next_id"]

    # ------------------------------------------------------------------ test controls
    def transport(self) -> httpx.MockTransport:
        """An httpx transport that sends every request to this server."""
        return httpx.MockTransport(self.handle)

    def fail_next(self, status: int = 503, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After``)."""
        self._failures.extend([(status, retry_after)] * times)

    def register_client(
        self, client_id: str, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    ) -> None:
        """Register a SMART backend client and the public key its assertions are signed with."""
        self._clients[client_id] = public_key

    def expire_tokens(self) -> None:
        """Make every issued access token invalid (as if it expired)."""
        self._tokens.clear()

    def resources(self, resource_type: str) -> list[Json]:
        """Everything of one type the server holds (not deleted)."""
        return list(self._store.get(resource_type, {}).values())

    @property
    def token_endpoint(self) -> str:
        """The SMART token endpoint."""
        return f"{self.base_url}/auth/token"

    # ------------------------------------------------------------------ dispatch
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the ``MockTransport`` handler)."""
        path = request.url.path
        if self.unreachable:
            raise httpx.ConnectError("fake FHIR server is unreachable", request=request)
        if not path.startswith(self._prefix):
            return _outcome(404, "not-found", f"no FHIR server at {path}")
        rel = path[len(self._prefix) :].strip("/")
        self.requests.append((request.method, rel))
        if self._failures:
            status, retry_after = self._failures.popleft()
            code = {429: "throttled", 409: "conflict"}.get(status, "transient")
            return _outcome(
                status,
                code,
                "injected failure",
                headers={"Retry-After": retry_after} if retry_after else None,
            )
        try:
            if self.require_auth and rel not in _OPEN:
                self._check_token(request)
            return self._route(request, rel)
        except _Fail as fail:
            return fail.response

    def _route(self, request: httpx.Request, rel: str) -> httpx.Response:
        method, parts = request.method, [p for p in rel.split("/") if p]
        if rel == "metadata" and method == "GET":
            return _json(200, self._capabilities())
        if rel == ".well-known/smart-configuration" and method == "GET":
            return httpx.Response(200, json=self._smart_configuration())
        if rel == "auth/token" and method == "POST":
            return self._token(request)
        if not parts and method == "POST":
            return self._transaction(self._body(request))
        if len(parts) == 1 and method == "POST":
            return self._create(parts[0], self._body(request), request.headers.get("If-None-Exist"))
        if len(parts) == 1 and method == "PUT" and request.url.query:
            return self._conditional_update(parts[0], request.url.query.decode(), self._body(request))
        if len(parts) == 1 and method == "GET":
            return self._search(parts[0], dict(parse_qsl(request.url.query.decode())))
        if len(parts) == 2 and method == "GET":
            return _json(200, self._read(parts[0], parts[1]))
        if len(parts) == 2 and method == "PUT":
            return self._update(parts[0], parts[1], self._body(request), request.headers.get("If-Match"))
        if len(parts) == 2 and method == "DELETE":
            self._drop(parts[0], parts[1])
            self._deleted.add((parts[0], parts[1]))
            self._save()
            return httpx.Response(204)
        return _outcome(405, "not-supported", f"{method} {rel} is not supported")

    # ------------------------------------------------------------------ storage
    def _keep(self, kind: str, resource: Json) -> None:
        self._drop(kind, resource["id"])
        self._store.setdefault(kind, {})[resource["id"]] = resource
        for ident in _identifiers(resource):
            key = (kind, ident.get("system") or "", ident.get("value") or "")
            self._by_identifier.setdefault(key, set()).add(resource["id"])

    def _drop(self, kind: str, resource_id: str) -> None:
        old = self._store.get(kind, {}).pop(resource_id, None)
        for ident in _identifiers(old or {}):
            self._by_identifier.get(
                (kind, ident.get("system") or "", ident.get("value") or ""), set()
            ).discard(resource_id)

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"store": self._store, "deleted": sorted(self._deleted), "next_id": self._next_id})
        )
        os.replace(tmp, self.path)  # atomic: a killed writer leaves the old or the new file

    def _body(self, request: httpx.Request) -> Json:
        try:
            body = json.loads(request.content)
        except ValueError:
            raise _Fail(_outcome(400, "structure", "the body is not JSON")) from None
        if not isinstance(body, dict) or "resourceType" not in body:
            raise _Fail(_outcome(400, "structure", "the body is not a FHIR resource"))
        return body

    def _check(self, resource: Json) -> None:
        if not self.validate:
            return
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except (KeyError, ValueError) as exc:
            raise _Fail(
                _outcome(400, "invalid", f"{resource.get('resourceType')} is invalid: {exc}")
            ) from None

    def _stamp(self, resource: Json, resource_id: str, version: int) -> Json:
        stored = dict(resource)
        stored["id"] = resource_id
        stored["meta"] = {
            **resource.get("meta", {}),
            "versionId": str(version),
            "lastUpdated": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        return stored

    def _new_id(self) -> str:
        value = str(self._next_id)
        self._next_id += 1
        return value

    def _read(self, resource_type: str, resource_id: str) -> Json:
        found = self._store.get(resource_type, {}).get(resource_id)
        if found is not None:
            return found
        if (resource_type, resource_id) in self._deleted:
            raise _Fail(_outcome(410, "deleted", f"{resource_type}/{resource_id} was deleted"))
        raise _Fail(_outcome(404, "not-found", f"{resource_type}/{resource_id} is not known"))

    # ------------------------------------------------------------------ search
    def _matches(self, resource_type: str, query: dict[str, str]) -> list[Json]:
        unknown = set(query) - _SEARCH_PARAMS
        if unknown:
            raise _Fail(_outcome(400, "not-supported", f"unknown search parameter(s) {sorted(unknown)}"))
        held = self._store.get(resource_type, {})
        candidates: Iterable[Json] = held.values()
        if "identifier" in query:
            parts = _split_token(query["identifier"])
            if len(parts) > 1:  # system|value: look it up instead of scanning
                ids = self._by_identifier.get((resource_type, parts[0], "|".join(parts[1:])), set())
                candidates = [held[i] for i in sorted(ids)]
        out = []
        for res in candidates:
            if "_id" in query and res["id"] != query["_id"]:
                continue
            if "identifier" in query and not self._token_match(_identifiers(res), query["identifier"]):
                continue
            if "code" in query and not self._token_match(
                res.get("code", {}).get("coding", []), query["code"]
            ):
                continue
            ref = query.get("subject") or (
                f"Patient/{query['patient']}" if "patient" in query and "/" not in query["patient"] else None
            )
            if ref is None and "patient" in query:
                ref = query["patient"]
            if ref is not None and res.get("subject", {}).get("reference") != ref:
                continue
            if "device" in query and res.get("device", {}).get("reference") != query["device"]:
                continue
            if "target" in query and query["target"] not in {
                t.get("reference") for t in res.get("target", [])
            }:
                continue
            if "_tag" in query and not self._token_match(res.get("meta", {}).get("tag", []), query["_tag"]):
                continue
            out.append(res)
        return out

    @staticmethod
    def _token_match(items: list[Json], token: str) -> bool:
        parts = _split_token(token)
        system, value = (parts[0], "|".join(parts[1:])) if len(parts) > 1 else (None, parts[0])
        key = "value" if any("value" in i for i in items) else "code"
        return any(
            i.get(key) == value and (system is None or (i.get("system") or "") == system) for i in items
        )

    def _search(self, resource_type: str, query: dict[str, str]) -> httpx.Response:
        matches = self._matches(resource_type, query)
        try:
            count = int(query.get("_count", self.page_size))
            offset = int(query.get("_offset", 0))
        except ValueError:
            raise _Fail(_outcome(400, "invalid", "_count and _offset must be integers")) from None
        page = matches[offset : offset + count]
        links = [{"relation": "self", "url": f"{self.base_url}/{resource_type}?{urlencode(query)}"}]
        if offset + count < len(matches):
            nxt = {**query, "_offset": str(offset + count), "_count": str(count)}
            links.append({"relation": "next", "url": f"{self.base_url}/{resource_type}?{urlencode(nxt)}"})
        return _json(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matches),
                "link": links,
                "entry": [
                    {
                        "fullUrl": f"{self.base_url}/{resource_type}/{r['id']}",
                        "resource": r,
                        "search": {"mode": "match"},
                    }
                    for r in page
                ],
            },
        )

    def _conditional_match(self, resource_type: str, condition: str) -> Json | None:
        found = self._matches(resource_type, dict(parse_qsl(condition)))
        if len(found) > 1:
            raise _Fail(
                _outcome(412, "duplicate", f"{condition} matches {len(found)} {resource_type} resources")
            )
        return found[0] if found else None

    # ------------------------------------------------------------------ writes
    def _create(self, resource_type: str, resource: Json, condition: str | None) -> httpx.Response:
        if resource.get("resourceType") != resource_type:
            return _outcome(400, "invalid", f"a {resource.get('resourceType')} posted to /{resource_type}")
        if condition:
            existing = self._conditional_match(resource_type, condition)
            if existing is not None:
                return _json(200, existing, {"Location": f"{self.base_url}/{resource_type}/{existing['id']}"})
        self._check(resource)
        self._check_references([(resource_type, resource)], set())
        stored = self._stamp(resource, self._new_id(), 1)
        self._keep(resource_type, stored)
        self._save()
        location = f"{self.base_url}/{resource_type}/{stored['id']}/_history/1"
        return _json(201, stored, {"Location": location, "ETag": 'W/"1"'})

    def _update(
        self, resource_type: str, resource_id: str, resource: Json, if_match: str | None
    ) -> httpx.Response:
        if resource.get("resourceType") != resource_type or resource.get("id") != resource_id:
            return _outcome(400, "invalid", "the resource's type and id must match the URL", ["Resource.id"])
        current = self._store.get(resource_type, {}).get(resource_id)
        version = int(current["meta"]["versionId"]) if current else 0
        if if_match is not None and if_match.strip('W/"') != str(version):
            return _outcome(412, "conflict", f"version {if_match} is not the current version {version}")
        if current is None and not self.update_create:
            return self._no_update_create(resource_type, resource_id)
        self._check(resource)
        self._check_references([(resource_type, resource)], set())
        stored = self._stamp(resource, resource_id, version + 1)
        self._keep(resource_type, stored)
        self._deleted.discard((resource_type, resource_id))
        self._save()
        return _json(201 if current is None else 200, stored, {"ETag": f'W/"{version + 1}"'})

    def _no_update_create(self, resource_type: str, resource_id: str) -> httpx.Response:
        # Medplum's server: a PUT to an id that does not exist is "not found" for a client
        # that may not set ids (packages/server/src/fhir/repo.ts, checkExistingResource).
        return _outcome(
            404,
            "not-found",
            f"{resource_type}/{resource_id} does not exist and this server does not create on update "
            "(updateCreate: false)",
        )

    def _conditional_update(self, resource_type: str, condition: str, resource: Json) -> httpx.Response:
        if resource.get("resourceType") != resource_type:
            return _outcome(400, "invalid", f"a {resource.get('resourceType')} put to /{resource_type}")
        existing = self._conditional_match(resource_type, condition)
        if existing is None:
            if resource.get("id"):
                return _outcome(400, "invalid", "a conditional create-on-update takes no client id")
            self._check(resource)
            self._check_references([(resource_type, resource)], set())
            stored = self._stamp(resource, self._new_id(), 1)
            self._keep(resource_type, stored)
            self._save()
            return _json(201, stored, {"ETag": 'W/"1"'})
        return self._update(
            resource_type,
            existing["id"],
            {**resource, "id": existing["id"]},
            None,
        )

    def _check_references(self, writes: list[tuple[str, Json]], created: set[tuple[str, str]]) -> None:
        """HAPI's referential integrity on write: every ``Type/id`` resolves (here or in ``created``)."""
        if not self.referential_integrity:
            return
        for kind, resource in writes:
            for path, ref in _references(resource, kind):
                target, _sep, rid = ref.partition("/")
                if (target, rid) in created or rid in self._store.get(target, {}):
                    continue
                raise _Fail(
                    _outcome(
                        400,
                        "processing",
                        f"Resource {ref} not found, specified in path: {path}",
                        [path],
                    )
                )

    def _limits(self, entries: list[Json]) -> httpx.Response | None:
        # Medplum, packages/fhir-router/src/batch.ts (BatchProcessor.run): the limits and messages.
        updates = conditional = 0
        for entry in entries:
            request = entry.get("request", {}) if isinstance(entry, dict) else {}
            method, url = request.get("method"), str(request.get("url", ""))
            if method == "PUT":
                updates += 1
            if (method == "POST" and request.get("ifNoneExist")) or (
                method in ("PUT", "DELETE") and "?" in url
            ):
                conditional += 1
        if self.max_updates is not None and updates > self.max_updates:
            return _outcome(400, "invalid", "Transaction contains more update operations than allowed")
        if (
            conditional
            and self.max_conditional_entries is not None
            and len(entries) > self.max_conditional_entries
        ):
            return _outcome(400, "invalid", "Transaction requires strict isolation but has too many entries")
        return None

    def _transaction(self, bundle: Json) -> httpx.Response:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            return _outcome(400, "invalid", "POST [base] takes a transaction Bundle", ["Bundle.type"])
        entries = bundle.get("entry", [])
        refused = self._limits(entries)
        if refused is not None:
            return refused
        resolved: dict[str, str] = {}
        plan: list[tuple[str, Json | None, str, bool]] = []  # (type, resource, id, create?)
        fresh: set[tuple[str, str]] = set()  # ids this transaction creates
        for n, entry in enumerate(entries):
            request = entry.get("request", {})
            resource = entry.get("resource")
            method, url = request.get("method"), request.get("url", "")
            if method == "POST" and isinstance(resource, dict):
                kind = resource.get("resourceType", "")
                existing = (
                    self._conditional_match(kind, request["ifNoneExist"])
                    if request.get("ifNoneExist")
                    else None
                )
                if existing is not None:
                    plan.append((kind, None, existing["id"], False))
                else:
                    plan.append((kind, resource, self._new_id(), True))
                    fresh.add((kind, plan[-1][2]))
            elif method == "PUT" and isinstance(resource, dict) and "?" in url:
                kind, _sep, condition = url.partition("?")
                existing = self._conditional_match(kind, condition)
                if existing is None:
                    rid = self._new_id()
                    fresh.add((kind, rid))
                else:
                    rid = existing["id"]
                plan.append((kind, {**resource, "id": rid}, rid, True))
            elif method == "PUT" and isinstance(resource, dict) and "/" in url:
                kind, _sep, rid = url.partition("/")
                if not self.update_create and rid not in self._store.get(kind, {}):
                    return self._no_update_create(kind, rid)
                plan.append((kind, resource, rid, True))
            else:
                return _outcome(
                    400,
                    "not-supported",
                    f"entry {n}: {method} {url} is not supported",
                    [f"Bundle.entry[{n}]"],
                )
            if entry.get("fullUrl"):
                resolved[entry["fullUrl"]] = f"{plan[-1][0]}/{plan[-1][2]}"
        # FHIR R4 http §3.1.0.11.2: resource identities that overlap fail the transaction.
        targets = [(kind, rid) for kind, resource, rid, write in plan if write and resource is not None]
        if len(set(targets)) != len(targets):
            twice = sorted({f"{kind}/{rid}" for kind, rid in targets if targets.count((kind, rid)) > 1})
            return _outcome(
                400,
                "processing",
                f"the transaction writes {', '.join(twice)} more than once",
                ["Bundle.entry"],
            )
        # Resolve urn:uuid references (FHIR R4 http §3.1.0.11.2), check everything, then write.
        writes = []
        for kind, resource, rid, write in plan:
            if write and resource is not None:
                # the resource was parsed from this request's body: ours to rewrite in place
                self._resolve(resource, resolved)
                self._check(resource)
                writes.append((kind, resource, rid))
        self._check_references([(kind, resource) for kind, resource, _rid in writes], set(targets))
        answers = []
        versions: dict[tuple[str, str], int] = {}
        for kind, resource, rid, write in plan:
            current = self._store.get(kind, {}).get(rid)
            if write and resource is not None:
                version = int(current["meta"]["versionId"]) + 1 if current else 1
                versions[kind, rid] = version
                status = "200 OK" if current else "201 Created"
                answers.append(
                    {"response": {"status": status, "location": f"{kind}/{rid}/_history/{version}"}}
                )
            else:
                answers.append({"response": {"status": "200 OK", "location": f"{kind}/{rid}"}})
        for kind, fixed, rid in writes:
            self._keep(kind, self._stamp(fixed, rid, versions[kind, rid]))
            self._deleted.discard((kind, rid))
        self._save()
        return _json(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": answers})

    @staticmethod
    def _resolve(node: Any, resolved: dict[str, str]) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref in resolved:
                node["reference"] = resolved[ref]
            for value in node.values():
                if isinstance(value, dict | list):
                    FakeFhirServer._resolve(value, resolved)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict | list):
                    FakeFhirServer._resolve(item, resolved)

    # ------------------------------------------------------------------ metadata and SMART
    def _capabilities(self) -> Json:
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-01-01",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "implementation": {"description": "telemedroom FakeFhirServer", "url": self.base_url},
            "rest": [
                {
                    "mode": "server",
                    "interaction": [{"code": "transaction"}],
                    "resource": [
                        {
                            "type": kind,
                            "interaction": [
                                {"code": c} for c in ("read", "create", "update", "delete", "search-type")
                            ],
                            "conditionalCreate": True,
                            "conditionalUpdate": True,
                            "updateCreate": self.update_create,
                        }
                        for kind in _CAPABLE
                    ],
                }
            ],
        }

    def _smart_configuration(self) -> Json:
        return {
            "token_endpoint": self.token_endpoint,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": ["system/*.rs", "system/*.cruds", "system/Observation.c", "system/Device.c"],
            "capabilities": ["client-confidential-asymmetric"],
        }

    def _token_error(self, status: int, error: str, description: str) -> httpx.Response:
        return httpx.Response(status, json={"error": error, "error_description": description})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if form.get("grant_type") != "client_credentials":
            return self._token_error(400, "unsupported_grant_type", "only client_credentials")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return self._token_error(400, "invalid_request", "client_assertion_type must be jwt-bearer")
        problem = self._verify_assertion(form.get("client_assertion", ""))
        if problem is not None:
            return self._token_error(401, "invalid_client", problem)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.time() + self.token_lifetime
        return httpx.Response(
            200,
            json={
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": form.get("scope", ""),
            },
        )

    def _verify_assertion(self, assertion: str) -> str | None:
        # SMART Backend Services (App Launch 2.x) §"Authenticating to the Token endpoint".
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            return "the client assertion is not a compact JWS"
        key = self._clients.get(claims.get("iss"))
        if key is None or claims.get("sub") != claims.get("iss"):
            return f"unknown client {claims.get('iss')!r}"
        signed = f"{head_b64}.{body_b64}".encode()
        try:
            if header.get("alg") == "RS384" and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA384())
            elif (
                header.get("alg") == "ES384"
                and isinstance(key, ec.EllipticCurvePublicKey)
                and len(signature) == 96
            ):
                r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
                key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
            else:
                return f"algorithm {header.get('alg')!r} does not fit the registered key"
        except InvalidSignature:
            return "the client assertion's signature does not verify"
        now = time.time()
        if claims.get("aud") != self.token_endpoint:
            return "aud must be the token endpoint"
        if not isinstance(claims.get("exp"), int | float) or not now < claims["exp"] <= now + 300:
            return "exp must be in the next five minutes"
        if not claims.get("jti") or claims["jti"] in self._jtis:
            return "jti missing or replayed"
        self._jtis.add(claims["jti"])
        return None

    def _check_token(self, request: httpx.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if self._tokens.get(token, 0) <= time.time():
            raise _Fail(
                _outcome(
                    401, "login", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
                )
            )


def _identifiers(resource: Json) -> list[Json]:
    """A resource's identifiers as a list: most types hold a list, a few one (QuestionnaireResponse)."""
    found = resource.get("identifier", [])
    return [found] if isinstance(found, dict) else list(found)


def _references(node: Any, path: str) -> Iterable[tuple[str, str]]:
    """``(FHIRPath, "Type/id")`` of every relative literal reference in a resource."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and not ref.startswith(("#", "urn:", "http:", "https:")) and "?" not in ref:
            kind, sep, rid = ref.partition("/")
            if sep and kind[:1].isupper() and rid and "/" not in rid:
                yield path, ref
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _references(item, path)
