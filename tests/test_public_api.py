"""The public surface: what is exported, and that it is exported exactly once."""

from __future__ import annotations

import importlib
import types

import pytest

import telemedroom

PUBLIC_PACKAGES = [
    "telemedroom",
    "telemedroom.apartment",
    "telemedroom.devices",
    "telemedroom.devices.gatt",
    "telemedroom.devices.media",
    "telemedroom.exams",
    "telemedroom.fhir",
    "telemedroom.monitoring",
    "telemedroom.room",
    "telemedroom.scheduling",
    "telemedroom.session",
    "telemedroom.testing",
    "telemedroom.booking",
    "telemedroom.hub",
]


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    names = {attr for attr in vars(module) if not attr.startswith("_") and attr != "annotations"}
    objects = {attr for attr in names if not isinstance(getattr(module, attr), types.ModuleType)}
    exported_modules = {
        attr for attr in module.__all__ if isinstance(getattr(module, attr), types.ModuleType)
    }
    # every exported object, nothing stray; exported modules are the package's own
    assert set(module.__all__) - exported_modules - {"__version__"} == objects
    for attr in exported_modules:
        assert getattr(module, attr).__name__ == f"{name}.{attr}"


def test_exported_classes_show_the_short_module_path() -> None:
    for name in telemedroom.__all__:
        obj = getattr(telemedroom, name)
        if isinstance(obj, type):
            assert obj.__module__ == "telemedroom", name
    assert repr(telemedroom.HeartRate).startswith("<class 'telemedroom.HeartRate'")


def test_gatt_decoder_shows_the_package_path() -> None:
    from telemedroom.devices import gatt

    assert gatt.Decoder.__module__ == "telemedroom.devices.gatt"


def test_media_classes_show_the_module_path() -> None:
    from telemedroom.devices import media

    for name in media.__all__:
        obj = getattr(media, name)
        if isinstance(obj, type):
            assert obj.__module__ == "telemedroom.devices.media", name


def test_version_is_a_string() -> None:
    assert isinstance(telemedroom.__version__, str)
    assert telemedroom.__version__[0].isdigit()


def test_measurements_module_imports_no_transport_or_fhir_library() -> None:
    import ast
    from pathlib import Path

    source = Path(telemedroom.__file__).with_name("measurements.py").read_text()
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported.isdisjoint({"bleak", "bumble", "fhir", "aiortc", "httpx", "asyncpg", "starlette"})


def test_monitoring_classes_show_the_package_path_and_import_no_session_layer() -> None:
    import ast
    from pathlib import Path

    from telemedroom import monitoring

    for name in monitoring.__all__:
        obj = getattr(monitoring, name)
        if isinstance(obj, type):
            assert obj.__module__ == "telemedroom.monitoring", name
    # Module level only: audit_log_sink imports the session layer when it is called.
    for source in Path(monitoring.__file__).parent.glob("*.py"):
        for node in ast.parse(source.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("telemedroom.session"), source.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("telemedroom.session") for a in node.names), source.name
    import subprocess
    import sys

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, telemedroom.monitoring; print('telemedroom.session' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
