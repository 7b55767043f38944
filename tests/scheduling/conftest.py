"""Fixtures for the scheduling tests: a fake clock, resources, and both stores.

The PostgreSQL store runs against a real, throwaway server: the Debian ``postgresql``
binaries, ``initdb`` into a temporary directory and ``pg_ctl start`` as a non-root user,
listening only on a Unix socket in that directory. Without the binaries the PostgreSQL
tests skip, unless ``TELEMEDROOM_REQUIRE_ALL`` is set (CI), where they fail.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from tests._system import missing_system_part

from telemedroom.scheduling import (
    AvailabilityRule,
    PostgresStore,
    Requirement,
    Resource,
    ScheduleStore,
    Service,
    SqliteStore,
)


class FakeClock:
    """A clock the test moves by hand (no sleeps: holds expire when the test says so)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


WEEKDAYS = AvailabilityRule(
    rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", starts=date(2026, 1, 5), opens=time(9), closes=time(12)
)
ROOM = Resource(id="room-1", kind="room", name="Room 1", availability=(WEEKDAYS,))
ROOM_2 = Resource(id="room-2", kind="room", name="Room 2", availability=(WEEKDAYS,))
DR_A = Resource(
    id="dr-a",
    kind="practitioner",
    name="Dr A",
    qualifications=frozenset({"general"}),
    availability=(WEEKDAYS,),
)
DR_B = Resource(
    id="dr-b",
    kind="practitioner",
    name="Dr B",
    qualifications=frozenset({"general", "neurology"}),
    availability=(WEEKDAYS,),
)
RESOURCES = (ROOM, ROOM_2, DR_A, DR_B)
GP = Service(
    id="gp-20",
    name="General medicine consultation",
    duration=timedelta(minutes=20),
    buffer_after=timedelta(minutes=5),
    requires=(Requirement(kind="room"), Requirement(kind="practitioner", qualification="general")),
)
# Monday 2 March 2026 (CET), before any slot of the week
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, tzinfo=UTC))


# -- PostgreSQL: a real throwaway server ---------------------------------------------------------


NO_POSTGRES = "PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package"


def _postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian layout, or initdb on PATH)."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.parent.name.split(".") if p.isdigit())

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass
class PostgresServer:
    bindir: Path
    socket_dir: Path
    user: str = "telemedroom"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its DSN."""
        name = f"t{os.getpid()}_{next(_databases)}"
        subprocess.run(
            [str(self.bindir / "createdb"), "-h", str(self.socket_dir), "-U", self.user, name],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self.dsn(name)


_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        missing_system_part(NO_POSTGRES)
    # the server refuses to run as root: run it as an unprivileged system user
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                owner = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if owner is None:
            missing_system_part("no unprivileged user to run PostgreSQL as")
        run_as = ["runuser", "-u", owner.pw_name, "--"]
    base = Path(tempfile.mkdtemp(prefix="telemedroom-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if owner is not None:
        for path in (base, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    base.chmod(0o755)
    sockets.chmod(0o755)

    def run(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, timeout=120)

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "telemedroom",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = (
        f"-k {sockets} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=300"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start")
    try:
        yield PostgresServer(bindir, sockets)
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the throwaway server."""
    return postgres_server.create_database()


# -- both stores, one suite ----------------------------------------------------------------------

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.requires_system)]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a store of the parametrized kind keeps its data (a file or a database)."""
    if store_kind == "sqlite":
        return str(tmp_path / "schedule.db")
    return str(request.getfixturevalue("postgres_dsn"))


def make_store(kind: str, url: str) -> ScheduleStore:
    return SqliteStore(url) if kind == "sqlite" else PostgresStore(url, max_size=4)


@pytest.fixture
async def store(store_kind: str, store_url: str) -> AsyncIterator[ScheduleStore]:
    async with make_store(store_kind, store_url) as opened:
        yield opened
