"""Glewlwyd (Debian package ``glewlwyd``), a real OpenID Connect provider, started headless on loopback.

The fixture writes a config file and an SQLite database built from the package's own
schema (``init.sqlite3.sql``), adds an OIDC plugin instance signing ID tokens with a fresh
RSA key and a ``roles`` claim read from a user property, then starts ``glewlwyd`` and
adds users and the hub's client through its admin API (as its own test suite does). Its
login page (``login.html``, the package's web app) is what the browsers see.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests._system import missing_system_part, require_system

SCHEMA = Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz")
WEBAPP = Path("/usr/share/glewlwyd/webapp")
# Debian ships the web app's config.json as a symlink to a folder that holds the file
# (/etc/glewlwyd/config-2.7.json/config.json): the fixture serves a copy of the web app
# with that file in place.
WEBAPP_CONFIG = (Path("/etc/glewlwyd/config-2.7.json/config.json"), Path("/etc/glewlwyd/config-2.7.json"))
MODULES = Path("/usr/lib/glewlwyd")
ADMIN = ("admin", "password")  # the package's initial administrator (init.sqlite3.sql)

_CONFIG = """\
port={port}
bind_address="127.0.0.1"
external_url="{url}"
login_url="login.html"
api_prefix="api"
static_files_path="{webapp}/"
allow_origin="*"
log_mode="file"
log_file="{log}"
log_level="WARNING"
cookie_secure=0
cookie_same_site="lax"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="{modules}/user"
client_module_path="{modules}/client"
user_auth_scheme_module_path="{modules}/scheme"
plugin_module_path="{modules}/plugin"
hash_algorithm="SHA512"
database = {{ type = "sqlite3"; path = "{database}"; }};
static_files_mime_types = (
  {{ extension = ".html"; mime_type = "text/html"; }},
  {{ extension = ".css"; mime_type = "text/css"; }},
  {{ extension = ".js"; mime_type = "application/javascript"; }},
  {{ extension = ".json"; mime_type = "application/json"; }},
  {{ extension = ".png"; mime_type = "image/png"; }},
  {{ extension = ".svg"; mime_type = "image/svg+xml"; }},
  {{ extension = ".woff"; mime_type = "font/woff"; }},
  {{ extension = ".woff2"; mime_type = "font/woff2"; }},
  {{ extension = ".ttf"; mime_type = "font/ttf"; }},
  {{ extension = ".ico"; mime_type = "image/x-icon"; }}
);
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Glewlwyd:
    """A running Glewlwyd with an OIDC plugin at ``{url}/api/oidc``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    admin: httpx.Client = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/api/oidc"

    def _call(self, method: str, path: str, body: Any = None) -> None:
        response = self.admin.request(method, f"{self.url}/api{path}", json=body)
        assert response.status_code == 200, (method, path, response.status_code, response.text)

    def add_user(self, username: str, password: str, *, name: str, roles: list[str]) -> None:
        self._call(
            "POST",
            "/user/",
            {
                "username": username,
                "name": name,
                "password": password,
                "scope": ["openid"],
                "roles": roles,
                "enabled": True,
            },
        )
        # the user consents to the hub's client once (Glewlwyd's grant), as staff would on first login
        with httpx.Client() as user:
            assert (
                user.post(
                    f"{self.url}/api/auth/", json={"username": username, "password": password}
                ).status_code
                == 200
            )
            assert user.put(f"{self.url}/api/auth/grant/hub", json={"scope": "openid"}).status_code == 200

    def add_client(self, client_id: str, redirect_uris: list[str]) -> None:
        self._call(
            "POST",
            "/client/",
            {
                "client_id": client_id,
                "name": client_id,
                "redirect_uri": redirect_uris,
                "authorization_type": ["code"],
                "confidential": False,
                "scope": ["openid"],
                "enabled": True,
            },
        )


def _database(path: Path, issuer: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    plugin = {
        "iss": issuer,
        "jwt-type": "rsa",
        "jwt-key-size": "256",
        "key": private,
        "cert": public,
        "access-token-duration": 600,
        "refresh-token-duration": 3600,
        "code-duration": 120,
        "refresh-token-rolling": False,
        "allow-non-oidc": False,
        "auth-type-code-enabled": True,
        "auth-type-token-enabled": False,
        "auth-type-id-token-enabled": True,
        "auth-type-none-enabled": False,
        "auth-type-password-enabled": False,
        "auth-type-client-enabled": False,
        "auth-type-refresh-enabled": True,
        "pkce-allowed": True,
        "pkce-method-plain-allowed": False,
        "name-claim": "mandatory",
        "email-claim": "no",
        "claims": [{"name": "roles", "user-property": "roles", "type": "string", "mandatory": True}],
    }
    with gzip.open(SCHEMA, "rt", encoding="utf-8") as schema:
        script = schema.read()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(script)
        (raw,) = db.execute(
            "SELECT gumi_parameters FROM g_user_module_instance WHERE gumi_name='database'"
        ).fetchone()
        users = json.loads(raw)
        users["data-format"]["roles"] = {
            "multiple": True,
            "read": True,
            "write": True,
            "profile-read": True,
            "profile-write": False,
        }
        db.execute(
            "UPDATE g_user_module_instance SET gumi_parameters=? WHERE gumi_name='database'",
            (json.dumps(users),),
        )
        # the openid scope needs the password (the package leaves it open)
        db.execute("UPDATE g_scope SET gs_password_required=1 WHERE gs_name='openid'")
        db.execute(
            "INSERT INTO g_plugin_module_instance"
            " (gpmi_module, gpmi_name, gpmi_display_name, gpmi_parameters)"
            " VALUES ('oidc', 'oidc', 'OpenID Connect', ?)",
            (json.dumps(plugin),),
        )
        db.commit()


@contextlib.contextmanager
def running_glewlwyd(base: Path) -> Iterator[Glewlwyd]:
    binary = require_system("glewlwyd")
    if not SCHEMA.exists() or not WEBAPP.exists():
        missing_system_part("glewlwyd's schema or web app is missing (apt-get install glewlwyd)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base.mkdir(parents=True, exist_ok=True)
    database, log, config = base / "glewlwyd.db", base / "glewlwyd.log", base / "glewlwyd.conf"
    webapp = base / "webapp"
    # a copy: glewlwyd's file server does not follow symlinks
    shutil.copytree(
        WEBAPP, webapp, ignore=lambda folder, names: ["config.json"] if folder == str(WEBAPP) else []
    )
    packaged = next((path for path in WEBAPP_CONFIG if path.is_file()), None)
    if packaged is None:
        missing_system_part("glewlwyd's web app config.json is missing (apt-get install glewlwyd-common)")
    (webapp / "config.json").write_bytes(packaged.read_bytes())
    _database(database, f"{url}/api/oidc")
    config.write_text(
        _CONFIG.format(port=port, url=url, webapp=webapp, log=log, modules=MODULES, database=database),
        encoding="utf-8",
    )
    errors = (base / "glewlwyd.stderr").open("wb")
    process = subprocess.Popen([binary, f"--config-file={config}"], stdout=subprocess.DEVNULL, stderr=errors)
    admin = httpx.Client()
    try:
        deadline = time.monotonic() + 30
        while True:  # glewlwyd has no readiness signal: ask until it answers, bounded
            if process.poll() is not None:
                raise RuntimeError(f"glewlwyd exited: {(base / 'glewlwyd.stderr').read_text()}")
            try:
                if admin.get(f"{url}/api/oidc/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("glewlwyd did not answer within 30 s")
            time.sleep(0.05)
        assert (
            admin.post(f"{url}/api/auth/", json={"username": ADMIN[0], "password": ADMIN[1]}).status_code
            == 200
        )
        yield Glewlwyd(url, process, log, admin)
    finally:
        admin.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.close()
