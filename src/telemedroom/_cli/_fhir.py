"""``telemedroom fhir check``: what the room needs from the clinic's FHIR server, and whether it has it.

It reads the CapabilityStatement (``GET [base]/metadata``) and probes, writing nothing:
a transaction holding one search (the server takes transactions), a search by identifier (what a
conditional create runs), and a transaction of nine conditional creates of an invalid
resource: a server with Medplum's limit refuses it for its size before it looks at the
resources ("too many entries"), any other refuses the invalid resource; nothing lands
either way. It prints each finding and the ``[fhir] server`` profile that fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from telemedroom._room._sinks import open_fhir_sink
from telemedroom.errors import FhirError, FhirServerError, RoomConfigError
from telemedroom.fhir import FhirClient, Retry
from telemedroom.room import RoomConfig

# What the room writes (the visit's record, readings, alerts).
NEEDED = ("Patient", "Encounter", "Observation", "Device", "Media", "Provenance", "QuestionnaireResponse")


@dataclass
class Finding:
    """One check: what, whether it holds, and what it means for the room."""

    what: str
    ok: bool
    note: str = ""


@dataclass
class CheckResult:
    """All findings and the profile they point to."""

    base_url: str
    findings: list[Finding] = field(default_factory=list)
    profile: str = "generic"
    software: str = ""

    @property
    def ok(self) -> bool:
        """Whether everything the room needs is there (with the right profile)."""
        return all(f.ok for f in self.findings)


def _probe_limits(n: int) -> bytes:
    entries = [
        {
            "resource": {"resourceType": "Basic"},  # no code: invalid, so nothing is ever written
            "request": {
                "method": "POST",
                "url": "Basic",
                "ifNoneExist": f"identifier=urn:telemedroom:probe|{i}",
            },
        }
        for i in range(n)
    ]
    import json

    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


async def check(config: RoomConfig) -> CheckResult:
    """Read the CapabilityStatement and probe the server of ``[fhir] base_url``.

    Raises:
        RoomConfigError: No ``[fhir] base_url``.
    """
    if config.fhir.base_url is None:
        raise RoomConfigError("fhir.base_url", "[fhir]", "missing: there is no FHIR server to check")
    result = CheckResult(base_url=config.fhir.base_url)
    async with open_fhir_sink(config, retry=Retry(attempts=1)) as sink:
        assert isinstance(sink, FhirClient)
        try:
            metadata: dict[str, Any] = (await sink.request("GET", "metadata")).json()
        except FhirError as exc:
            result.findings.append(Finding("CapabilityStatement (GET metadata)", False, str(exc)))
            return result
        software = metadata.get("software") or {}
        result.software = f"{software.get('name', '?')} {software.get('version', '')}".strip()
        version = str(metadata.get("fhirVersion", ""))
        result.findings.append(
            Finding(f"FHIR version {version or '?'}", version.startswith("4.0"), "R4 needed")
        )
        rest = (metadata.get("rest") or [{}])[0]
        interactions = {i.get("code") for i in rest.get("interaction", [])}
        result.findings.append(Finding("declares transaction", "transaction" in interactions))
        resources = {r.get("type"): r for r in rest.get("resource", [])}
        missing = [kind for kind in NEEDED if kind not in resources]
        result.findings.append(Finding("resource types the room writes", not missing, ", ".join(missing)))
        no_conditional = [k for k in NEEDED if k in resources and not resources[k].get("conditionalCreate")]
        result.findings.append(Finding("conditional create", not no_conditional, ", ".join(no_conditional)))
        update_create = all(resources[k].get("updateCreate", True) for k in NEEDED if k in resources)
        result.findings.append(
            Finding(
                "update as create (PUT to a new id)",
                True,
                "yes"
                if update_create
                else "no: the room sends conditional updates instead (profile medplum)",
            )
        )
        # a read-only transaction: one search entry (Medplum refuses an empty one)
        probe = (
            b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":'
            b'{"method":"GET","url":"Device?identifier=urn:telemedroom:probe|0"}}]}'
        )
        try:
            answer = (await sink.request("POST", "", content=probe)).json()
            took = answer.get("type") == "transaction-response"
            result.findings.append(Finding("takes a transaction", took))
        except FhirError as exc:
            result.findings.append(Finding("takes a transaction", False, str(exc)))
        try:
            await sink.request(
                "GET", "Device", params={"identifier": "urn:telemedroom:probe|0", "_count": "1"}
            )
            result.findings.append(Finding("search by identifier (conditional create)", True))
        except FhirError as exc:
            result.findings.append(Finding("search by identifier (conditional create)", False, str(exc)))
        limited = False
        try:
            await sink.request("POST", "", content=_probe_limits(9))
        except FhirServerError as exc:
            said = " ".join(i.diagnostics or "" for i in exc.issues)
            limited = "too many entries" in said
        except FhirError:
            pass
        result.findings.append(
            Finding(
                "transactions with conditional entries",
                True,
                "at most 8 entries (Medplum's limit): the outbox sends ordered plans"
                if limited
                else "no entry limit seen",
            )
        )
        if limited or not update_create:
            result.profile = "medplum"
        elif "hapi" in result.software.lower():
            result.profile = "hapi"
    if result.profile != config.fhir.server:
        result.findings.append(
            Finding(
                f"[fhir] server = {config.fhir.server!r}",
                config.fhir.server == "medplum" or result.profile == "generic",
                f"this server needs server = {result.profile!r}",
            )
        )
    return result


def show(console: Console, result: CheckResult) -> None:
    """The findings as a table, then the verdict."""
    console.print(f"FHIR server {result.base_url} ({result.software or 'software not declared'})")
    table = Table(show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("")
    table.add_column("what it means")
    for finding in result.findings:
        table.add_row(
            escape(finding.what), "[green]ok[/]" if finding.ok else "[bold red]no[/]", escape(finding.note)
        )
    console.print(table)
    for finding in result.findings:
        if not finding.ok:
            console.print(f"[bold red]no:[/] {escape(finding.what)}: {escape(finding.note)}")
    console.print(f"profile that fits: [bold]server = {result.profile!r}[/] in \\[fhir]")
    if result.ok:
        console.print("[green]the room's record will land on this server[/]")
    else:
        console.print("[bold red]the room's record will not land on this server as configured[/]")
