"""Exponential backoff with an optional server-given wait, shared by the HTTP senders.

The FHIR client (:class:`telemedroom.fhir.Retry`) and the alert webhook
(:class:`telemedroom.monitoring.WebhookSink`) both wait ``base * 2**attempt`` seconds
between tries, at most ``cap``, unless the server said how long (``Retry-After``,
RFC 9110 §10.2.3); each parses that header itself and passes seconds here.
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]


def backoff_delay(
    attempt: int, *, base: float, cap: float, retry_after: float | None = None, jitter: float = 0.0
) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0).

    Args:
        attempt: How many retries came before this one.
        base: The first wait.
        cap: No wait is longer, whatever the server asked for.
        retry_after: The server's wait in seconds, if it gave one: it wins over backoff.
        jitter: Up to this fraction of the backoff is added at random, so that many
            clients refused at once do not come back at the same instant.

    Examples:
        >>> backoff_delay(3, base=0.5, cap=60.0)
        4.0
        >>> backoff_delay(3, base=0.5, cap=60.0, retry_after=120.0)
        60.0
        >>> 4.0 <= backoff_delay(3, base=0.5, cap=60.0, jitter=0.1) <= 4.4
        True
    """
    if retry_after is not None:
        return min(retry_after, cap)
    delay = base * 2.0**attempt
    if jitter:
        delay += random.uniform(0, delay * jitter)
    return min(delay, cap)
