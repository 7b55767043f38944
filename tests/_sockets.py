"""Which UDP sockets this test process has open (Linux ``/proc``), to catch leaked ICE sockets.

A peer connection that is not closed (or closed while it still gathers candidates)
leaves aioice's UDP sockets open; nothing notices until the garbage collector meets
them, in whatever later test happens to run then, as an unclosed-socket
``ResourceWarning``. The conftest compares the open sockets before and after each test
module, so the leak fails the module that made it.
"""

from __future__ import annotations

import os
from pathlib import Path

_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
_FDS = Path("/proc/self/fd")


def supported() -> bool:
    """Whether this system shows sockets under ``/proc`` (Linux)."""
    return _FDS.is_dir() and all(table.is_file() for table in _TABLES)


def open_udp_sockets() -> dict[str, str]:
    """This process's open UDP sockets: ``{inode: "local address:port"}``."""
    local: dict[str, str] = {}
    for table in _TABLES:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local[fields[9]] = _address(fields[1])  # inode, local_address (see proc_net(5))
    mine: dict[str, str] = {}
    for fd in os.listdir(_FDS):
        try:
            target = os.readlink(_FDS / fd)
        except OSError:  # closed meanwhile (e.g. the listing's own descriptor)
            continue
        inode = target.removeprefix("socket:[").removesuffix("]")
        if target.startswith("socket:[") and inode in local:
            mine[inode] = local[inode]
    return mine


def _address(field: str) -> str:
    """``0202A8C0:1F90`` as ``192.168.2.2:8080`` (IPv4 is little-endian hex; IPv6 is left as hex)."""
    host, port = field.split(":")
    if len(host) == 8:
        host = ".".join(str(byte) for byte in reversed(bytes.fromhex(host)))
    return f"{host}:{int(port, 16)}"
