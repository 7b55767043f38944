"""A real Janus WebRTC Server (Debian's ``janus``) on loopback, for tests and benchmarks.

:class:`LocalJanus` writes a configuration folder of its own (nothing under ``/etc/janus``
is read), starts ``janus`` with it and waits until its HTTP API answers. The set-up is the
production one of ``docs/sfu.md`` shrunk to one machine: only the VideoRoom plugin and
the HTTP transport are loaded, both bound to 127.0.0.1 on free ports; the admin API is
on (stored-token auth needs it); ``token_auth`` is on, so every Janus request needs a
token that the admin API added; the VideoRoom plugin needs ``admin_key`` to create rooms
and records nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import httpx

from telemedroom.errors import SfuError

__all__ = ["LocalJanus"]

# Every plugin, transport, logger and event handler Debian ships but the VideoRoom and HTTP.
_OTHER_PLUGINS: Final = (
    "audiobridge",
    "duktape",
    "echotest",
    "lua",
    "nosip",
    "recordplay",
    "sip",
    "streaming",
    "textroom",
    "videocall",
    "voicemail",
)
_OTHER_TRANSPORTS: Final = ("mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _disable(names: tuple[str, ...]) -> str:
    return ",".join(f"libjanus_{name}.so" for name in names)


class LocalJanus:
    """Janus on 127.0.0.1 with a generated configuration; an async context manager.

    Args:
        binary: The ``janus`` program (found on ``PATH`` by default).
        workdir: Where the configuration and log go (a temporary folder by default,
            removed on exit).
        ice_interfaces: Janus's ``ice_enforce_list``: the only interfaces whose addresses
            it offers as ICE candidates (loopback by default).

    Attributes:
        url: The Janus HTTP API, ``http://127.0.0.1:<port>/janus``.
        admin_url: The admin API, ``http://127.0.0.1:<port>/admin``.
        admin_secret: The admin API's ``admin_secret``.
        room_admin_key: The VideoRoom plugin's ``admin_key`` (needed to create rooms).

    Examples:
        >>> janus = LocalJanus()
        >>> janus.url.startswith("http://127.0.0.1:"), janus.url.endswith("/janus")
        (True, True)
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        workdir: Path | None = None,
        ice_interfaces: str = "lo",
    ) -> None:
        self.binary = binary or shutil.which("janus") or "janus"
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="telemedroom-janus-"))
        self.ice_interfaces = ice_interfaces
        self.port = _free_port()
        self.admin_port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}/admin"
        self.admin_secret = secrets.token_urlsafe(24)
        self.room_admin_key = secrets.token_urlsafe(24)
        self.log_path = self.workdir / "janus.log"
        self._process: asyncio.subprocess.Process | None = None

    def write_config(self) -> Path:
        """Write ``janus.jcfg``, the HTTP transport's and the VideoRoom's configuration; the folder."""
        folder = self.workdir / "conf"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "janus.jcfg").write_text(
            f"""general: {{
    configs_folder = "{folder}"
    log_to_stdout = false
    debug_level = 4
    admin_secret = "{self.admin_secret}"
    token_auth = true
    session_timeout = 60
    server_name = "telemedroom-test"
}}
certificates: {{}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{self.ice_interfaces}"
    ignore_mdns = true
}}
plugins: {{
    disable = "{_disable(_OTHER_PLUGINS)}"
}}
transports: {{
    disable = "{_disable(_OTHER_TRANSPORTS)}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
"""
        )
        (folder / "janus.transport.http.jcfg").write_text(
            f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {self.port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_port = {self.admin_port}
    admin_ip = "127.0.0.1"
    admin_https = false
}}
cors: {{}}
"""
        )
        (folder / "janus.plugin.videoroom.jcfg").write_text(
            f"""general: {{
    admin_key = "{self.room_admin_key}"
    lock_rtp_forward = true
}}
"""
        )
        return folder

    async def start(self) -> None:
        """Write the configuration, start Janus and wait (up to 30 s) until its API answers.

        Raises:
            SfuError: Janus exited or did not answer in time (its log is in the message).
        """
        folder = self.write_config()
        log = self.log_path.open("wb")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.binary,
                f"--configs-folder={folder}",
                f"--config={folder / 'janus.jcfg'}",
                "--disable-colors",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        try:
            await self._wait_ready(30.0)
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        async with httpx.AsyncClient(timeout=2.0) as http:
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        if self._process.returncode is not None:
                            raise SfuError(None, f"janus exited ({self._process.returncode}): {self.log()}")
                        with contextlib.suppress(httpx.HTTPError):
                            if (await http.get(f"{self.url}/info")).status_code == 200:
                                return
                        # Janus offers no readiness signal but its port: poll it, bounded.
                        await asyncio.sleep(0.05)
            except TimeoutError as exc:
                raise SfuError(None, f"janus did not answer within {timeout} s: {self.log()}") from exc

    def log(self, tail: int = 2000) -> str:
        """The last ``tail`` characters of Janus's log."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    async def stop(self) -> None:
        """Stop Janus (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
