"""Transactions that fit the server: server profiles and ordered plans.

Real FHIR servers limit what one transaction may hold, and some refuse a ``PUT`` to an
id that does not exist yet. A :class:`ServerProfile` says what a server accepts;
:func:`plan_transaction` turns a transaction Bundle's entries into an ordered list of
transactions (*steps*) that each fit it, and :func:`send_plan` sends them in order,
rewriting the ``urn:uuid`` references of later steps to the ids the server gave the
earlier ones.

The rules, and the server each comes from:

- **Medplum** (``packages/fhir-router/src/batch.ts``): a transaction holding any
  conditional entry (a create with ``ifNoneExist``, an update or delete by search URL)
  runs with serializable isolation and may have at most 8 entries
  (``maxSerializableTransactionEntries``; "Transaction requires strict isolation but has
  too many entries"); a transaction may hold at most 50 updates (``maxUpdates``).
- **Medplum** (``packages/server/src/fhir/repo.ts`` ``checkExistingResource``, and
  ``updateCreate: false`` in its CapabilityStatement): a ``PUT`` to an id that does not
  exist is refused (404) unless the client may set ids (project admins). Without
  update-as-create a ``PUT Type/id`` becomes a conditional update on the resource's
  identifier, ``PUT Type?identifier=system|value`` (create if none matches, update if
  one does: as repeatable as the ``PUT`` it replaces); a resource without identifier (a
  Provenance) is tagged with its client id and updated by ``_tag``.
- With update-as-create on a server with limits (Medplum, for a client that may set ids:
  ``[fhir] update_create = true``), a reading's Observation goes as ``PUT
  Observation/<uuid5 of its identifier>`` instead of a conditional create: no search on
  the server, and only the Devices and the Patient stay conditional (so only the step
  holding them is kept within 8 entries).
- **HAPI FHIR JPA** (``DaoConfig``/``JpaStorageSettings.isEnforceReferentialIntegrityOnWrite``,
  on by default): every relative reference must resolve; the plan never splits a
  resource from what it references into a *later* step, so each step's references
  resolve on the server or inside the step.

Every step is idempotent (conditional creates and updates on identifiers), so a step
sent twice (a crash after the server's answer, before the progress was saved) creates
nothing twice, and a plan restarted from its first step lands the same resources.

Examples:
    >>> medplum = ServerProfile.named("medplum")
    >>> medplum.max_conditional_entries, medplum.max_updates, medplum.update_create
    (8, 50, False)
    >>> entries = [{"fullUrl": f"urn:uuid:{n}", "resource": {"resourceType": "Device",
    ...             "identifier": [{"system": "urn:x", "value": str(n)}]},
    ...             "request": {"method": "POST", "url": "Device", "ifNoneExist": f"identifier=urn:x|{n}"}}
    ...            for n in range(20)]
    >>> [len(step) for step in plan_transaction(entries, medplum)]
    [8, 8, 4]
    >>> len(plan_transaction(entries, ServerProfile.named("generic")))
    1
"""

from __future__ import annotations

import copy
import heapq
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import quote

from telemedroom.errors import FhirMappingError

__all__ = [
    "CLIENT_ID_TAG",
    "PROFILES",
    "ServerProfile",
    "plan_transaction",
    "resolve_step",
    "step_identities",
]

Json = dict[str, Any]
ProfileName = Literal["generic", "hapi", "medplum"]
# meta.tag system of the client id a resource without identifier is found again by.
CLIENT_ID_TAG: Final = "urn:telemedroom:client-id"


@dataclass(frozen=True)
class ServerProfile:
    """What one FHIR server accepts in a transaction (``[fhir] server`` in ``room.toml``).

    Attributes:
        name: ``generic``, ``hapi`` or ``medplum``.
        max_conditional_entries: Entries a transaction may hold when any of them is
            conditional (Medplum: 8); ``None``: no limit.
        max_updates: ``PUT`` entries a transaction may hold (Medplum: 50); ``None``: no limit.
        update_create: The server creates a resource on a ``PUT`` to an unknown id
            (``CapabilityStatement.rest.resource.updateCreate``).
        referential_integrity: The server refuses a reference that does not resolve
            (HAPI's default); the room never writes one, this only informs ``fhir check``.

    Examples:
        >>> ServerProfile.named("medplum", max_conditional_entries=4).max_conditional_entries
        4
        >>> ServerProfile.named("hapi").referential_integrity
        True
    """

    name: str = "generic"
    max_conditional_entries: int | None = None
    max_updates: int | None = None
    update_create: bool = True
    referential_integrity: bool = False

    @classmethod
    def named(cls, name: str, **overrides: Any) -> ServerProfile:
        """The profile of a known server, with explicit overrides (``None`` values are ignored).

        Raises:
            FhirMappingError: An unknown profile name.
        """
        try:
            base = PROFILES[name]
        except KeyError:
            raise FhirMappingError(
                "ServerProfile", f"unknown FHIR server profile {name!r}; use one of {sorted(PROFILES)}"
            ) from None
        return replace(base, **{key: value for key, value in overrides.items() if value is not None})

    @property
    def limited(self) -> bool:
        """Whether a transaction may have to be split or rewritten for this server."""
        return (
            self.max_conditional_entries is not None or self.max_updates is not None or not self.update_create
        )


PROFILES: Final[dict[str, ServerProfile]] = {
    # What FHIR R4 allows: no limit, PUT creates (http.html "update as create").
    "generic": ServerProfile("generic"),
    # HAPI FHIR JPA server defaults: referential integrity on write, client ids allowed.
    "hapi": ServerProfile("hapi", referential_integrity=True),
    # Medplum's server (fhir-router batch.ts limits; repo.ts: no update-as-create for clients).
    "medplum": ServerProfile("medplum", max_conditional_entries=8, max_updates=50, update_create=False),
}


def _urns(node: Any, known: Mapping[str, int], into: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in known:
            into.add(ref)
        for value in node.values():
            if isinstance(value, dict | list):
                _urns(value, known, into)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _urns(item, known, into)


def _search_value(text: str) -> str:
    # FHIR search: ',', '$' and '|' separate inside a token value; escape them.
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def _conditional_url(resource: Json, client_id: str) -> str:
    """The search URL of a PUT's conditional update: by identifier, else by a client-id tag.

    A resource without an identifier (a Provenance, a QuestionnaireResponse) is tagged with
    its client id (``meta.tag``, system :data:`CLIENT_ID_TAG`): ``_tag`` is a search
    parameter of every resource, so the conditional update finds it again.
    """
    kind = resource["resourceType"]
    identifiers = resource.get("identifier")
    ident = identifiers[0] if isinstance(identifiers, list) and identifiers else identifiers
    if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
        system = quote(ident["system"], safe=":/")
        value = quote(_search_value(str(ident["value"])), safe="")
        return f"{kind}?identifier={system}|{value}"
    meta = resource.setdefault("meta", {})
    tags = meta.setdefault("tag", [])
    if not any(t.get("system") == CLIENT_ID_TAG for t in tags):
        tags.append({"system": CLIENT_ID_TAG, "code": client_id})
    return f"{kind}?_tag={quote(CLIENT_ID_TAG, safe=':/')}|{quote(_search_value(client_id), safe='')}"


# Resources only the room creates, each for one reading, with an identifier of its own:
# where the server does update-as-create, their conditional create becomes a PUT.
_READING_TYPES: Final = frozenset({"Observation"})


def _reading_as_put(entry: Json) -> Json:
    """A reading's conditional create as a ``PUT`` to the id its ``fullUrl`` holds.

    The ``fullUrl`` is ``urn:uuid:`` + the uuid5 of the reading's identifier, so the id is
    the same every time the reading is sent: as idempotent as the conditional create, and
    the server searches nothing (a conditional create searches twice on Medplum's router).
    """
    request = entry.get("request", {})
    resource = entry.get("resource")
    url = str(entry.get("fullUrl", ""))
    if (
        request.get("method") != "POST"
        or not request.get("ifNoneExist")
        or not isinstance(resource, dict)
        or resource.get("resourceType") not in _READING_TYPES
        or not url.startswith("urn:uuid:")
    ):
        return entry
    kind, rid = resource["resourceType"], url.removeprefix("urn:uuid:")
    return {
        **entry,
        "resource": {**resource, "id": rid},
        "request": {"method": "PUT", "url": f"{kind}/{rid}"},
    }


def _rewrite(entries: Sequence[Json], profile: ServerProfile) -> list[Json]:
    if profile.update_create:
        return [_reading_as_put(entry) for entry in entries]
    puts = [
        e for e in entries
        if e.get("request", {}).get("method") == "PUT" and "?" not in str(e["request"].get("url", ""))
    ]  # fmt: skip
    # The server picks the ids now: a literal "Type/id" of a PUT in this bundle becomes its
    # fullUrl, which the plan resolves to the id the server gave.
    literal = {str(e["request"]["url"]): str(e["fullUrl"]) for e in puts if e.get("fullUrl")}
    out = []
    for entry in entries:
        changed = copy.deepcopy(entry)
        _replace_refs(changed.get("resource"), literal)
        request = changed.get("request", {})
        if any(entry is put for put in puts):
            client_id = str(request["url"]).partition("/")[2]
            changed["resource"].pop("id", None)  # Medplum: no client id in a conditional update
            changed["request"] = {**request, "url": _conditional_url(changed["resource"], client_id)}
        out.append(changed)
    return out


def _conditional(entry: Json) -> bool:
    request = entry.get("request", {})
    method, url = request.get("method"), str(request.get("url", ""))
    return bool(
        (method == "POST" and request.get("ifNoneExist")) or (method in ("PUT", "DELETE") and "?" in url)
    )


def plan_transaction(entries: Sequence[Json], profile: ServerProfile) -> list[list[Json]]:
    """The entries as ordered steps, each one transaction this server accepts.

    A profile without limits gets the entries back as one step, untouched. Otherwise
    ``PUT``s become conditional updates where the server has no update-as-create, the
    entries are ordered so that what is referenced comes first, and cut into steps within
    the limits; a reference inside a conditional URL always points to an earlier step.

    Raises:
        FhirMappingError: A ``PUT`` the server cannot take (no identifier), or references
            that go round in a circle across more entries than one step may hold.
    """
    if not profile.limited:
        return [list(entries)]
    rewritten = _rewrite(entries, profile)
    index = {str(e["fullUrl"]): n for n, e in enumerate(rewritten) if e.get("fullUrl")}
    body_deps: list[set[int]] = []
    url_deps: list[set[int]] = []
    for n, entry in enumerate(rewritten):
        refs: set[str] = set()
        _urns(entry.get("resource"), index, refs)
        body_deps.append({index[r] for r in refs} - {n})
        url = str(entry.get("request", {}).get("url", ""))
        url_deps.append({i for urn, i in index.items() if urn in url} - {n})
    # Kahn's algorithm, smallest original index first: the bundle's own order where it can.
    waiting = [len(body_deps[n] | url_deps[n]) for n in range(len(rewritten))]
    users: list[list[int]] = [[] for _ in rewritten]
    for n in range(len(rewritten)):
        for dep in body_deps[n] | url_deps[n]:
            users[dep].append(n)
    ready = [n for n, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for user in users[n]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(rewritten):
        raise FhirMappingError("Bundle", "the transaction's references go round in a circle")
    steps: list[list[int]] = [[]]
    for n in order:
        current = steps[-1]
        candidate = [*current, n]
        conditional = any(_conditional(rewritten[i]) for i in candidate)
        updates = sum(1 for i in candidate if rewritten[i].get("request", {}).get("method") == "PUT")
        too_many = (
            (conditional and profile.max_conditional_entries is not None
             and len(candidate) > profile.max_conditional_entries)
            or (profile.max_updates is not None and updates > profile.max_updates)
        )  # fmt: skip
        if current and (too_many or url_deps[n] & set(current)):
            steps.append([n])
        else:
            current.append(n)
    return [[rewritten[i] for i in step] for step in steps if step]


def _replace_refs(node: Any, resolved: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in resolved:
            node["reference"] = resolved[ref]
        for value in node.values():
            if isinstance(value, dict | list):
                _replace_refs(value, resolved)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _replace_refs(item, resolved)


def resolve_step(step: Sequence[Json], resolved: Mapping[str, str]) -> bytes:
    """One step as transaction Bundle bytes, references to earlier steps replaced by ``Type/id``.

    Examples:
        >>> step = [{"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Observation", "status": "final",
        ...          "code": {"text": "x"}, "device": {"reference": "urn:uuid:1"}},
        ...          "request": {"method": "POST", "url": "Observation"}}]
        >>> b'"Device/7"' in resolve_step(step, {"urn:uuid:1": "Device/7"})
        True
    """
    entries = copy.deepcopy(list(step))
    for entry in entries:
        _replace_refs(entry.get("resource"), resolved)
        request = entry.get("request", {})
        url = str(request.get("url", ""))
        for urn, ref in resolved.items():
            if urn in url:
                url = url.replace(urn, ref)
        if url:
            request["url"] = url
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode()


def _identity(location: str | None, resource: Any) -> str | None:
    if location:
        parts = location.split("?")[0].rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2:
            return f"{parts[-2]}/{parts[-1]}"
    if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return None


def step_identities(step: Sequence[Json], answer: Any) -> dict[str, str]:
    """``fullUrl -> Type/id`` from a step's ``transaction-response`` (``location``, else the resource).

    Raises:
        FhirMappingError: The answer does not say where an entry went.

    Examples:
        >>> step = [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Device"}}]
        >>> answer = {"entry": [{"response": {"status": "201", "location": "Device/7/_history/1"}}]}
        >>> step_identities(step, answer)
        {'urn:uuid:1': 'Device/7'}
    """
    answers = answer.get("entry", []) if isinstance(answer, dict) else []
    if len(answers) != len(step):
        raise FhirMappingError("Bundle", f"the server answered {len(answers)} entries for {len(step)}")
    found: dict[str, str] = {}
    for entry, reply in zip(step, answers, strict=True):
        if not entry.get("fullUrl"):
            continue
        response = reply.get("response", {}) if isinstance(reply, dict) else {}
        where = _identity(
            response.get("location"), reply.get("resource") if isinstance(reply, dict) else None
        )
        if where is None:
            raise FhirMappingError(
                "Bundle", f"the server did not say where {entry['fullUrl']} went (no location, no resource)"
            )
        found[str(entry["fullUrl"])] = where
    return found
