"""Without the PostgreSQL binaries the PostgreSQL tests skip, unless TELEMEDROOM_REQUIRE_ALL says fail."""

from __future__ import annotations

import pytest
from tests._system import missing_system_part

from .conftest import NO_POSTGRES, _postgres_bindir


def test_missing_server_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEMEDROOM_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing_system_part(NO_POSTGRES)
    monkeypatch.setenv("TELEMEDROOM_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="TELEMEDROOM_REQUIRE_ALL"):
        missing_system_part(NO_POSTGRES)


@pytest.mark.requires_system
def test_the_binaries_are_found_without_a_hard_coded_version() -> None:
    bindir = _postgres_bindir()
    if bindir is None:
        missing_system_part(NO_POSTGRES)
    assert (bindir / "initdb").exists()
    assert (bindir / "pg_ctl").exists()
