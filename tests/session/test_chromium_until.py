"""``until()``, the CSP-safe wait the browser tests use, in headless Chromium (Debian's)."""

from __future__ import annotations

from typing import Any

import pytest

from telemedroom._chromium import until


async def test_a_condition_that_throws_until_the_element_is_drawn_is_waited_for(browser_page: Any) -> None:
    """After a reload a row is ``null`` until the page draws it: that is "not yet", not an error."""
    page = browser_page
    await page.set_content("<ul id='list'></ul>")
    await page.evaluate(
        "setTimeout(() => { const li = document.createElement('li');"
        " li.dataset.speaking = 'true'; document.getElementById('list').append(li); }, 300)"
    )
    value = await until(page, "document.querySelector('#list li').dataset.speaking", 10)
    assert value == "true"


async def test_a_timeout_names_the_condition_and_its_error(browser_page: Any) -> None:
    page = browser_page
    await page.set_content("<ul id='list'></ul>")
    with pytest.raises(TimeoutError) as raised:
        await until(page, "document.querySelector('#list li').dataset.speaking", 0.5)
    message = str(raised.value)
    assert "#list li" in message
    assert "throws" in message
    assert "null" in message
    # a condition that is merely false reports its value
    with pytest.raises(TimeoutError, match=r"\(now: 0\)"):
        await until(page, "document.querySelectorAll('#list li').length", 0.5)
