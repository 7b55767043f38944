"""Headless Chromium under Playwright: the flags it runs with and a wait the page's CSP allows.

Used by ``telemedroom demo --browser`` and by the tests and benchmarks that drive the
physician console and the kiosk in a real browser. Playwright itself is imported by the
caller (the ``browser`` extra); nothing here downloads a browser.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

__all__ = ["CHROMIUM_FLAGS", "until"]

CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
)


def _waiting_script(condition: str) -> str:
    """The promise :func:`until` evaluates: ``condition`` checked on every animation frame.

    A condition that throws counts as not yet true: right after a reload, an element
    the page has not drawn yet is ``null`` and ``el.dataset`` throws until it appears.

    Examples:
        >>> _waiting_script("window.ready").startswith("new Promise(resolve => { const check")
        True
    """
    return (
        "new Promise(resolve => { const check = () => { let value;"
        " try { value = (" + condition + "); } catch (error) { value = false; }"
        " if (value) resolve(value); else requestAnimationFrame(check); }; check(); })"
    )


async def until(page: Any, condition: str, timeout: float = 15) -> Any:
    """Wait in the page until a JavaScript condition holds; returns its value.

    Not ``page.wait_for_function``: Playwright evaluates its predicate with ``eval``,
    which the console's and the kiosk's Content-Security-Policy (rightly) forbid.
    While waiting, a condition that throws (an element not drawn yet) counts as false;
    if it still throws at the timeout, the error is named in the ``TimeoutError``.

    Raises:
        TimeoutError: The condition did not hold within ``timeout`` seconds.
    """
    try:
        async with asyncio.timeout(timeout):
            return await page.evaluate(_waiting_script(condition))
    except TimeoutError:
        try:
            last = await page.evaluate(condition)
        except Exception as error:  # only to name it in the timeout
            last = f"it throws {str(error).splitlines()[0]}"
        raise TimeoutError(f"not within {timeout} s: {condition} (now: {last!r})") from None
