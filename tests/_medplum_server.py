"""Medplum's FHIR engine as a test server: start ``tests/_medplum/server.mjs`` under Node.

The engine is Medplum's, from the npm registry (``tests/_medplum/package.json`` pins
``@medplum/fhir-router`` and ``@medplum/core``; ``make test`` runs ``npm ci`` for it).
It is a FHIR server this project did not write: what the room writes is checked by
someone else's rules and someone else's R4 validator.

Without Node 20+ or the npm packages the tests that need it skip, or fail when
``TELEMEDROOM_REQUIRE_ALL`` is set (see ``tests/_system.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent / "_medplum"
SCRIPT = FOLDER / "server.mjs"
# Seconds to wait for the engine to load the R4 definitions (slow on a loaded machine).
START_TIMEOUT = 240.0


class MedplumUnavailable(RuntimeError):
    """Node, npm or the Medplum packages are missing: the reason says what to install."""


def node_problem() -> str | None:
    """Why the Medplum server cannot start here, or ``None`` when it can."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed (Node 20 or newer; apt-get install nodejs npm)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    try:
        major = int(version.strip().lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot tell the version of node ({version.strip()!r})"
    if major < 20:
        return f"node {version.strip()} is too old: @medplum/core needs Node 20 or newer"
    if not (FOLDER / "node_modules" / "@medplum" / "fhir-router" / "package.json").exists():
        return "Medplum's packages are not installed: npm ci --prefix tests/_medplum (make test does it)"
    return None


class MedplumServer:
    """One Node process serving Medplum's FHIR router on a free loopback port.

    Examples:
        >>> server = MedplumServer()  # doctest: +SKIP
        >>> server.start(); server.reset(); server.base_url  # doctest: +SKIP
        'http://127.0.0.1:40313/fhir/R4'
    """

    def __init__(self, *, allow_set_id: bool = False) -> None:
        self.allow_set_id = allow_set_id
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self.stderr: list[str] = []

    @property
    def base_url(self) -> str:
        """The FHIR base, ``http://127.0.0.1:PORT/fhir/R4``."""
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    def start(self) -> None:
        """Start Node and wait until the server listens.

        Raises:
            MedplumUnavailable: Node or the packages are missing, or the server did not start.
        """
        problem = node_problem()
        if problem is not None:
            raise MedplumUnavailable(problem)
        command = ["node", "--experimental-websocket", "--no-warnings", str(SCRIPT), "--port", "0"]
        if self.allow_set_id:
            command.append("--allow-set-id")
        self._process = subprocess.Popen(
            command, cwd=FOLDER, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stdout, stderr = self._process.stdout, self._process.stderr
        assert stdout is not None
        assert stderr is not None
        ready = threading.Event()
        line: list[str] = []

        def read() -> None:
            line.append(stdout.readline())
            ready.set()
            for _rest in stdout:  # keep the pipe drained
                pass

        self._readers = [
            threading.Thread(target=read, daemon=True),
            threading.Thread(target=lambda: self.stderr.extend(stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        if not ready.wait(START_TIMEOUT) or not line[0].startswith("listening "):
            self.stop()
            raise MedplumUnavailable(f"the Medplum server did not start: {''.join(self.stderr)[-2000:]}")
        self.port = int(line[0].split()[1])

    def reset(self) -> None:
        """Empty the repository (each test starts from an empty server)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_test/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 204

    def get(self, path: str) -> Any:
        """``GET [base]/path`` as JSON (for checks in tests)."""
        with urllib.request.urlopen(f"{self.base_url}/{path}", timeout=60) as answer:
            return json.loads(answer.read())

    def all_of(self, resource_type: str) -> list[dict[str, Any]]:
        """Every resource of one type the server holds."""
        found = self.get(f"{resource_type}?_count=1000")
        return [entry["resource"] for entry in found.get("entry", [])]

    def stop(self) -> None:
        """Stop the Node process."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for reader in self._readers:  # they end at the pipes' end of file
            reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
