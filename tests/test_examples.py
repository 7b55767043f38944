"""Every script in examples/ runs and prints what its README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

EXPECTED = {
    "decode_readings.py": [
        "Acme Medical: 128/82 mm[Hg], pulse 64/min at 2026-11-24 09:15 CET, flags: irregular_pulse",
        "temperature: 36.8 Cel (tympanum)",
        "glucose: 104 mg/dL, fasting, tested by self",
        "refused: characteristic 2a35, byte 5",
    ],
    "stream_virtual_cuff.py": [
        "found TM Cuff at C0:FF:EE:00:00:01",
        "inflating: 150 mm[Hg]",
        "result: 131/84 mm[Hg], pulse 71",
        "received 2 values, 0 malformed",
    ],
    "glucose_records.py": [
        "the glucometer stores 5 records",
        "new: #4 96 mg/dL, fasting",
        "new: #5 97 mg/dL, fasting",
        "fetched 2 new records; next visit asks from #6",
    ],
    "snapshot_exam_camera.py": [
        "exam camera: synthetic 1920x1080",
        "preview frame: 1920x1080",
        "snapshot: image/png 1920x1080",
        "wrote exam-",
        "camera released: True",
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


def test_every_example_is_checked() -> None:
    assert {script.name for script in SCRIPTS} == set(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path) -> None:
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for line in EXPECTED[script.name]:
        assert line in result.stdout
