"""The session package imports without its extras; the parts that need them say what to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_tokens_and_audit_load_no_webrtc_or_server_library() -> None:
    result = run_python(
        "import sys\n"
        "import telemedroom.session\n"
        "print(sorted(m for m in ('aiortc', 'starlette', 'uvicorn', 'websockets') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("missing", "module", "extra"),
    [
        ("starlette", "signaling", "server"),
        ("uvicorn", "signaling", "server"),
        ("aiortc", "peer", "video"),
    ],
)
def test_without_the_extra_the_import_says_what_to_install(missing: str, module: str, extra: str) -> None:
    # sys.modules[name] = None makes "import name" fail as if the package were absent.
    result = run_python(
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from telemedroom.errors import MissingExtraError\n"
        "try:\n"
        f"    from telemedroom.session import {module}\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.extra)\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    found, message = result.stdout.splitlines()
    assert found == extra
    assert f"pip install 'telemedroom[{extra}]'" in message
