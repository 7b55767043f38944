"""The patients' pages ship in the wheel (hatchling's own file selection, as ``pip wheel`` uses)."""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).parents[2]


def test_the_wheel_carries_the_kiosk_page() -> None:
    shipped = {included.distribution_path for included in WheelBuilder(str(ROOT)).recurse_included_files()}
    static = ROOT / "src" / "telemedroom" / "_kiosk" / "static"
    expected = {f"telemedroom/_kiosk/static/{path.name}" for path in static.iterdir()}
    assert expected == {
        "telemedroom/_kiosk/static/" + name for name in ("index.html", "kiosk.css", "kiosk.js")
    }
    assert expected <= shipped
    assert "telemedroom/_loopback/video.js" in shipped  # the loopback video, both pages'
    screen = {"telemedroom/apartment/static/" + name for name in ("index.html", "screen.css", "screen.js")}
    assert screen <= shipped
