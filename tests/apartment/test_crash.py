"""A gateway killed with SIGKILL at random moments loses no reading and takes none twice.

Each run of ``_apartment_worker.py`` opens the apartment on the same data dir, with
virtual devices (a bumble radio) that offer all their stored readings again, and is
killed with ``kill -9`` at a random moment: while scanning, connecting, taking
readings, committing them, draining the outbox into NDJSON files. A last run goes on
until every reading is in the journal and delivered. Then the journal holds each
reading once, and the NDJSON record holds each Observation once.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.apartment._apartment_worker import EXPECTED
from tests.apartment.conftest import make_config

from telemedroom.apartment import Apartment

WORKER = Path(__file__).with_name("_apartment_worker.py")
KILLS = 6


def start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the worker said nothing"
        return process.stdout.readline()


async def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "apartment"
    chance = random.Random(17)  # the moments are random, and the same on every run of the test
    for _ in range(KILLS):
        worker = start(data_dir)
        try:
            assert read_line(worker, 120).startswith("started")
            time.sleep(chance.uniform(0.2, 6.0))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
    worker = start(data_dir, "--until-done")
    try:
        assert read_line(worker, 120).startswith("started")
        assert read_line(worker, 240).strip() == f"done {EXPECTED}"
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    observations = [
        json.loads(line) for line in (data_dir / "fhir" / "Observation.ndjson").read_text().splitlines()
    ]
    identifiers = [o["identifier"][0]["value"] for o in observations]
    assert len(identifiers) == len(set(identifiers))
    # the cuff's pressure has one Observation per reading (no pulse given), as the others
    assert len(identifiers) == EXPECTED
    async with Apartment(make_config(data_dir)) as apartment:
        assert await apartment.journal.count() == EXPECTED
        assert await apartment.journal.readings(pending=True) == []
        assert await apartment.outbox.pending() == 0
    # the journal (with its write-ahead log) holds no health data in the clear
    journal = b"".join(p.read_bytes() for p in data_dir.glob("apartment.sqlite*"))
    for clear in (b"heart-failure-4711", b"Observation", b"mm[Hg]", b"BloodGlucose"):
        assert clear not in journal
