"""The booking page in real headless Firefox (Debian's firefox-esr, over WebDriver BiDi).

The same journey as in Chromium (tests/booking/_flow.py): book, the e-mail from the real
SMTP server, cancel by its link, book again, reschedule, and check in at a real Room's
kiosk page, also in Firefox, with the new booking code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests._firefox import Bidi, firefox  # noqa: F401 (firefox is a fixture)

from . import _flow
from .conftest import Mailbox

pytestmark = pytest.mark.requires_system


class Firefox:
    """The flow's driver over WebDriver BiDi."""

    def __init__(self, bidi: Bidi) -> None:
        self.bidi = bidi

    async def goto(self, url: str) -> None:
        await self.bidi.command(
            "browsingContext.navigate", context=self.bidi.context, url=url, wait="complete"
        )

    async def evaluate(self, script: str) -> Any:
        return await self.bidi.evaluate(script)

    async def until(self, condition: str, timeout: float = 15) -> Any:
        return await self.bidi.until(condition, timeout=timeout)


async def test_the_whole_journey_in_firefox(tmp_path: Path, mailbox: Mailbox, firefox: Bidi) -> None:  # noqa: F811
    driver = Firefox(firefox)
    async with _flow.world(tmp_path, mailbox) as world:
        code = await _flow.whole_journey(driver, world)
        assert "Firefox" in await driver.evaluate("navigator.userAgent")
        # the QR code is on the page as an image named by the code
        label = await driver.evaluate("document.querySelector('#qr svg').getAttribute('aria-label')")
        assert label == f"QR-Code mit Ihrem Buchungscode {code}"
        await _flow.check_in_at_the_kiosk(driver, world, code)
