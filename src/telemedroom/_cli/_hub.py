"""``telemedroom hub``: serve the clinic hub of a configuration file with uvicorn, logs as JSON lines.

Behind the reverse proxy (nginx or Caddy terminates TLS: ``docs/hub.md``), on loopback
by default. ``--workers`` is not offered: run two or more ``telemedroom hub`` processes
(systemd units) on one PostgreSQL instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from telemedroom.hub import Hub, HubConfig

__all__ = ["JsonFormatter", "configure_logging", "serve"]

_STANDARD: Final = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra=`` fields.

    Examples:
        >>> record = logging.makeLogRecord({"name": "telemedroom.hub", "levelname": "INFO",
        ...                                 "msg": "heartbeat refused: %s", "args": ("nord-1",)})
        >>> json.loads(JsonFormatter().format(record))["message"]
        'heartbeat refused: nord-1'
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    """Send telemedroom's and uvicorn's logs to stderr as JSON lines (journald keeps them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


async def serve(config_file: Path, *, host: str, port: int, log_level: str) -> None:
    """Open the hub and serve it until interrupted."""
    import uvicorn

    config = HubConfig.from_toml(config_file)
    configure_logging(log_level)
    async with Hub(config) as hub:
        server = uvicorn.Server(
            uvicorn.Config(
                hub.app,
                host=host,
                port=port,
                lifespan="off",
                log_config=None,
                proxy_headers=True,
                forwarded_allow_ips="127.0.0.1",
                ws="websockets-sansio",
            )
        )
        logging.getLogger("telemedroom.hub").info("hub serving", extra={"host": host, "port": port})
        await server.serve()
