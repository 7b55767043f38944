"""Every script in examples/ runs and prints what its README promises.

An example that is a directory has a README.md and either a script listed in
``EXPECTED`` by its path below ``examples/`` or a test of its own, named in
``TESTED_ELSEWHERE``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from tests._system import missing_system_part

EXAMPLES = Path(__file__).parents[1] / "examples"
DIRECTORIES = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
# Directory examples with their own test (they need a server, a package install...).
TESTED_ELSEWHERE = {
    "booking_page": "tests/booking/test_example_booking_page.py",
    "booking_service": "tests/scheduling/test_example_booking_service.py",
    "clinic_hub": "tests/hub/test_cli_hub.py",
    "driver_plugin": "tests/devices/test_registry.py",
    "physician_console": "tests/session/test_example_physician_console.py",
    "multi_party": "tests/session/test_example_multi_party.py",
}

EXPECTED = {
    "kiosk_room/visit.py": [
        "room nord-1 (Telemedizin-Raum Nord 1), devices: blood_pressure, pulse_oximeter, thermometer, scale",
        "checked in, devices in this order: blood_pressure, pulse_oximeter, thermometer, scale",
        "  blood_pressure: put_on_cuff",
        "  reading blood_pressure: 131/84 mmHg",
        "  reading scale: 81.3 kg",
        "the physician admitted the patient",
        "physician: still 1920x1080, ending the visit",
        "snapshot from the exam camera kept",
        "wrapped up: 6 Observations, 1 Media in the outbox",
        "delivered 1 bundle: Device 5, Encounter 1, Media 1, Observation 6, Provenance 1",
        "audit log verified: 11 entries",
        "4 readings, skipped: none",
    ],
    "decode_readings.py": [
        "Acme Medical: 128/82 mm[Hg], pulse 64/min at 2026-11-24 09:15 CET, flags: irregular_pulse",
        "temperature: 36.8 Cel (tympanum)",
        "glucose: 104 mg/dL, fasting, tested by self",
        "refused: characteristic 2a35, byte 5",
    ],
    "snapshot_exam_camera.py": [
        "exam camera: synthetic 1920x1080",
        "preview frame: 1920x1080",
        "snapshot: image/png 1920x1080",
        "wrote exam-",
        "camera released: True",
    ],
    "stream_virtual_cuff.py": [
        "found TM Cuff at C0:FF:EE:00:00:01",
        "inflating: 150 mm[Hg]",
        "result: 131/84 mm[Hg], pulse 71",
        "received 2 values, 0 malformed",
    ],
    "facial_exam.py": [
        "kiosk: Spitzen Sie bitte die Lippen, wie zum Pfeifen oder Küssen.",
        "stills: 8 at 1920x1080",
        "Sunnybrook: resting 10, voluntary 60, synkinesis 5, composite 45",
        "House-Brackmann: III (Moderate dysfunction)",
        "Media.ndjson: 8",
        "Observation.ndjson: 2",
        "QuestionnaireResponse.ndjson: 2",
        "views: rest, raise-eyebrows, close-eyes-gently, close-eyes-tightly, wrinkle-nose, smile-with-teeth, "
        "pucker-lips, puff-cheeks",
    ],
    "facial_exam_remote.py": [
        "kiosk 7/8: Spitzen Sie bitte die Lippen, wie zum Pfeifen oder Küssen.",
        "console: 8 stills at 1920x1080",
        "room wrote 12 resources; composite 45",
        "compare rest                previous 640x480  now 1920x1080",
        "compare raise-eyebrows      previous -        now 1920x1080",
        "Media.ndjson: 8",
        "QuestionnaireResponse.ndjson: 2",
    ],
    "health_apartment/try_it.py": [
        "apartment apartment-2 for Patient/heart-failure-4711: 3 paired devices",
        "alert: high body weight rose by 2.4 kg within 3 days (now 83.4 kg)",
        "first start: 9 readings taken in 3 device sessions",
        "second start: 0 new readings (the devices sent their memory again)",
        "FHIR record: 9 Observations in fhir/Observation.ndjson",
    ],
    "health_apartment/week.py": [
        "Monday: 3 readings from 3 virtual devices",
        "Fri 27 Nov 07:00  raised       high     body weight rose by 2.2 kg within 3 days (now 83.4 kg)",
        "Fri 27 Nov 07:30  escalated    high     body weight rose by 2.2 kg within 3 days (now 83.4 kg)"
        "  -> PractitionerRole/on-call-nurse",
        "Fri 27 Nov 10:00  acknowledged high     body weight rose by 2.2 kg within 3 days (now 83.4 kg)"
        "  -> Practitioner/dr-weber",
        "Fri 27 Nov 19:30  raised       high     systolic blood pressure 186 mmHg is above 180",
        "Sat 28 Nov 10:00  raised       moderate no blood pressure reading by 10:00 on 2026-11-28",
        "Sat 28 Nov 11:15  cleared      moderate no blood pressure reading by 10:00 on 2026-11-28",
        "Sun 29 Nov 07:35  raised       high     SpO2 91 % is below 92",
        "Sun 29 Nov 08:30  cleared      high     SpO2 91 % is below 92",
        "alerts: 4 raised, 2 escalations, 4 cleared",
        "webhook: 14 events accepted in 15 requests, signatures verified",
        "audit: 14 records",
        "FHIR: 38 bundles from the outbox -> 14 Communication, 3 DetectedIssue, 4 Device, 14 Flag, "
        "27 Observation, 24 Provenance",
        "Sunday: weight 82.8 kg (+1.8 kg in 7 days), alerts listed: 1",
        "wrote summary-2026-11-29.html",
    ],
    "glucose_records.py": [
        "the glucometer stores 5 records",
        "new: #4 96 mg/dL, fasting",
        "new: #5 97 mg/dL, fasting",
        "fetched 2 new records; next visit asks from #6",
    ],
    "fhir_upload/upload.py": [
        "LOINC 85354-9 MDC 150020",
        "Systolic blood pressure: 128.0 mm[Hg]",
        "SMART client room-nord-1: ES384 client assertion, key room-nord-1-2026",
        "network down: 2 bundles wait in the outbox, encrypted",
        "opened with another key: refused (OutboxKeyError)",
        "outbox: 2 bundles sent in 1 transaction, 0 left",
        "access tokens fetched: 1 (discovered at .well-known/smart-configuration)",
        "server holds 2 Observations: 85354-9, 8867-4",
        "identifier 001B2CFFFE3D4E5F-Patient/anna-2a35-150020-20261124T081500.000000Z",
    ],
    "facial_measurements.py": [
        "model: MediaPipe face mesh (face_landmark_with_attention) 0.10.14",
        "rest: pupils 129 px apart",
        "weaker right",
        "pucker-lips: not measured (NoFaceFound)",
        "FHIR: 1 Device, 6 Observations",
        "Landmark symmetry metrics are an aid for the physician, not a diagnosis.",
    ],
    "consultation.py": [
        "waiting: Room Quarter 1 (patient)",
        "DTLS fingerprint the physician sees is the room's: True",
        "first video frame: 640x360",
        "vitals: cuff inflating, 150 mm[Hg]",
        "vitals: blood pressure 131/84 mm[Hg], pulse 71/min",
        "snapshot: image/png 1920x1080, kept: 1",
        "visit ended; audit log verified (joined, joined, admitted, ended)",
    ],
}


SCRIPTS = sorted(EXPECTED)


def test_every_example_is_checked() -> None:
    top_level = {script.name for script in EXAMPLES.glob("*.py")}
    assert top_level == {name for name in EXPECTED if "/" not in name}
    for name in EXPECTED:
        assert (EXAMPLES / name).is_file(), name


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda p: p.name)
def test_every_example_directory_has_a_readme_and_a_test(directory: Path) -> None:
    assert (directory / "README.md").is_file()
    scripts = [name for name in EXPECTED if name.startswith(f"{directory.name}/")]
    elsewhere = TESTED_ELSEWHERE.get(directory.name)
    assert scripts or elsewhere, f"examples/{directory.name}/ is run by no test"
    if elsewhere is not None:
        assert (EXAMPLES.parent / elsewhere).is_file()


# Examples that need the heavy `landmarks` extra (MediaPipe): skipped without it, unless required.
NEEDS_LANDMARKS = {"facial_measurements.py"}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name: str) -> None:
    if name in NEEDS_LANDMARKS and importlib.util.find_spec("mediapipe") is None:
        missing_system_part("mediapipe is not installed (pip install 'telemedroom[landmarks]')")
    script = EXAMPLES / name
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for line in EXPECTED[name]:
        assert line in result.stdout
