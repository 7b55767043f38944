"""Driver discovery through the ``telemedroom.drivers`` entry-point group, for real.

The plugin under ``examples/driver_plugin`` is built and pip-installed (offline, into a
temporary target directory so the suite leaves the venv as it found it); a fresh
interpreter with that directory on its path then finds the driver by entry point and
decodes a virtual T-100 (a fake radio only) through ``DeviceManager``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from telemedroom.devices import DeviceDriver, DiscoveredDevice, StandardProfileDriver, load_drivers
from telemedroom.devices.registry import ENTRY_POINT_GROUP, short_service
from telemedroom.errors import DriverLoadError, UnsupportedCharacteristic

PLUGIN = Path(__file__).parents[2] / "examples" / "driver_plugin"


def device(*services: int, name: str | None = None) -> DiscoveredDevice:
    return DiscoveredDevice(
        address="C0:FF:EE:00:00:01",
        name=name,
        rssi=-40,
        services=tuple(f"0000{s:04x}-0000-1000-8000-00805f9b34fb" for s in services),
    )


def test_standard_driver_matches_health_services_only() -> None:
    driver = StandardProfileDriver()
    assert driver.matches(device(0x1810))
    assert driver.matches(device(0x180F, 0x1822))  # battery + pulse oximeter
    assert not driver.matches(device(0x180F))
    assert not driver.matches(device())


def test_standard_driver_pairs_where_the_profile_requires_bonding() -> None:
    driver = StandardProfileDriver()
    assert driver.requires_pairing(device(0x1808))
    assert driver.requires_pairing(device(0x181D, 0x181C))  # scale with User Data
    assert not driver.requires_pairing(device(0x181D))
    assert not driver.requires_pairing(device(0x1810))


def test_default_driver_methods() -> None:
    with pytest.raises(UnsupportedCharacteristic):
        StandardProfileDriver().decode("7e5a0002-1d2c-4e7b-9a3f-6c7d8e9fa0b1", b"", tz=None)  # type: ignore[arg-type]
    assert short_service("0000180d-0000-1000-8000-00805F9B34FB") == 0x180D


def test_standard_driver_comes_last() -> None:
    drivers = load_drivers()
    assert isinstance(drivers[-1], StandardProfileDriver)
    assert all(isinstance(d, DeviceDriver) for d in drivers)


def write_distribution(root: Path, name: str, entry_point: str, module: str = "") -> None:
    """A minimal installed distribution (dist-info with entry points), as pip leaves it."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_point}\n")
    if module:
        (root / f"{name}.py").write_text(module)


def test_a_broken_plugin_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_distribution(tmp_path, "broken_plugin", "broken = broken_plugin_missing:Driver")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DriverLoadError) as info:
        load_drivers()
    assert info.value.entry_point == "broken = broken_plugin_missing:Driver"
    assert "ModuleNotFoundError" in info.value.reason
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_plugin_that_is_not_a_driver_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_distribution(tmp_path, "odd_plugin", "odd = odd_plugin:NOT_A_DRIVER", "NOT_A_DRIVER = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DriverLoadError, match=r"int is not a telemedroom\.devices\.DeviceDriver"):
        load_drivers()


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def run_with_plugin(target: Path, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(target), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_installed_plugin_is_found_by_entry_point(installed_plugin: Path) -> None:
    out = run_with_plugin(
        installed_plugin,
        """
        from telemedroom.devices import load_drivers
        print([d.name for d in load_drivers()])
        """,
    )
    assert out.strip() == "['acme-t100', 'standard']"


def test_plugin_decodes_a_virtual_proprietary_thermometer(installed_plugin: Path) -> None:
    out = run_with_plugin(
        installed_plugin,
        """
        import asyncio, contextlib
        from telemedroom import BodyTemperature
        from telemedroom.devices import DeviceManager
        from telemedroom.testing import BumbleBackend
        from acme_thermometer.virtual import VirtualAcmeThermometer

        async def main():
            readings = [BodyTemperature(value=37.25, site="ear"), BodyTemperature(value=41.5, site="forehead",
                        status=frozenset({"out_of_range"}))]
            async with BumbleBackend() as radio:
                await radio.add(VirtualAcmeThermometer(readings))
                async with DeviceManager(backend=radio) as dm:
                    async with contextlib.aclosing(dm.scan(timeout=5)) as found:
                        t100 = await anext(found)
                    print(t100.name, t100.driver.name)
                    async with await dm.connect(t100) as conn:
                        got = []
                        async for reading in conn.measurements():
                            got.append(reading)
                            if len(got) == 2:
                                break
                    for r in got:
                        print(r.value, r.site, sorted(r.status), r.device.manufacturer)

        asyncio.run(main())
        """,
    )
    assert out.splitlines() == [
        "ACME T-1 acme-t100",  # the name shortened to fit the advertisement
        "37.25 ear [] Acme Instruments",
        "41.5 forehead ['out_of_range'] Acme Instruments",
    ]
