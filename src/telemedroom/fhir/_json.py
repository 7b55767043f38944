"""FHIR JSON bytes from the plain dicts the mapping builds (decimals included)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        # Integers stay integers; other decimals came from repr(float), and float()
        # gives the very same float back.
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Built once; the dicts the mapping builds are trees, so the circularity check is skipped.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_default)


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON of ``data``.

    Examples:
        >>> dumps({"value": Decimal("72.4"), "count": Decimal(3)})
        b'{"value":72.4,"count":3}'
    """
    return _ENCODER.encode(data).encode()
