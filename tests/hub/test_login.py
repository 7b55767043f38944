"""Staff login to the hub through a real OpenID Connect provider (Glewlwyd) in headless Chromium.

Everything is real: Glewlwyd from Debian with its own login page, PostgreSQL, the hub over
TLS. Bad input: a replayed callback, a replayed authorization code, a staff member
without a staff role, a request without its CSRF token or from another origin, an
expired session, a wrong local password — each refused with a clear answer and an
audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from telemedroom.session import AuditLog

from ._glewlwyd import Glewlwyd
from .conftest import LOCAL_PASSWORD, NURSE, OPERATOR, PHYSICIAN, RunningHub

pytestmark = pytest.mark.requires_system

HubFactory = Callable[..., AbstractAsyncContextManager[RunningHub]]
CONTINUE = 'button[title="Continue to client application"]'


async def sso_login(page: Any, hub: RunningHub, user: tuple[str, str, str, list[str]]) -> list[str]:
    """Log in through Glewlwyd's own page; returns the callback URLs the browser was sent to."""
    callbacks: list[str] = []
    page.on(
        "request", lambda request: callbacks.append(request.url) if "/auth/callback" in request.url else None
    )
    await page.goto(f"{hub.url}/login")
    await page.click("#sso")
    await page.wait_for_selector(f"#username, {CONTINUE}", timeout=15_000)
    if await page.locator("#username").count():  # no session at the IdP yet
        await page.fill("#username", user[0])
        await page.fill("#password", user[1])
        await page.click("#loginbut")
    await page.click(CONTINUE, timeout=15_000)
    await page.wait_for_url(
        lambda url: "/auth/callback" not in url and url.startswith(hub.url), timeout=15_000
    )
    return callbacks


async def audit_actions(hub: RunningHub) -> list[tuple[str, dict[str, str]]]:
    entries = await hub.hub.store.audit_entries()
    AuditLog.from_entries(entries).verify()
    return [(entry.action.value, entry.detail) for entry in entries]


async def test_operator_logs_in_through_the_idp_and_sees_the_fleet(
    hub_factory: HubFactory, idp: Glewlwyd, browser: Any
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        await sso_login(browser, hub, OPERATOR)
        assert browser.url == f"{hub.url}/fleet"
        assert await browser.text_content("header .who") == "Jonas Meier (operator)"
        assert await browser.locator("#fleet tbody tr").count() == 2
        (cookie,) = [
            c for c in await browser.context.cookies(hub.url) if c["name"] == "__Host-telemedroom-hub"
        ]
        assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
            True,
            True,
            "Lax",
            "/",
        )
        actions = await audit_actions(hub)
        assert actions[-1] == ("login", {"via": "oidc"})


async def test_a_physician_may_not_open_the_fleet_view(
    hub_factory: HubFactory, idp: Glewlwyd, browser: Any
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        await sso_login(browser, hub, PHYSICIAN)
        assert await browser.text_content("header .who") == "Dr. Anna Weber (physician)"
        response = await browser.goto(f"{hub.url}/fleet")
        assert response.status == 403
        assert "forbidden_role" in await browser.text_content("main")
        assert (await audit_actions(hub))[-1][1]["reason"] == "forbidden_role"


async def test_a_user_without_a_staff_role_is_refused(
    hub_factory: HubFactory, idp: Glewlwyd, browser: Any
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        await browser.goto(f"{hub.url}/login")
        await browser.click("#sso")
        await browser.fill("#username", NURSE[0])
        await browser.fill("#password", NURSE[1])
        await browser.click("#loginbut")
        async with browser.expect_response(lambda r: "/auth/callback" in r.url) as answer:
            await browser.click(CONTINUE, timeout=15_000)
        assert (await answer.value).status == 403
        assert "login refused (no_role)" in await browser.text_content("main")
        assert (await audit_actions(hub))[-1] == ("login_refused", {"reason": "no_role"})
        assert not [
            c for c in await browser.context.cookies(hub.url) if c["name"] == "__Host-telemedroom-hub"
        ]


async def test_a_replayed_callback_and_a_replayed_code_are_refused(
    hub_factory: HubFactory, idp: Glewlwyd, browser: Any
) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        (callback,) = await sso_login(browser, hub, OPERATOR)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        async with hub.client() as http:
            # the very same callback again: its login attempt was used up
            replay = await http.get(callback)
            assert replay.status_code == 400
            assert "login refused (unknown_state)" in replay.text
            # the code with a fresh, valid login attempt: the IdP refuses the used code
            start = await http.get("/auth/oidc/start")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            again = await http.get("/auth/callback", params={"state": state, "code": code})
            assert again.status_code == 400
            assert "login refused (code_refused)" in again.text
            assert "__Host-telemedroom-hub" not in again.headers.get("set-cookie", "")
        reasons = [
            detail.get("reason") for action, detail in await audit_actions(hub) if action == "login_refused"
        ]
        assert reasons == ["unknown_state", "code_refused"]


async def test_csrf_origin_expiry_and_logout(hub_factory: HubFactory, idp: Glewlwyd, browser: Any) -> None:
    async with hub_factory(issuer=idp.issuer) as hub:
        await sso_login(browser, hub, OPERATOR)
        session = next(
            c["value"]
            for c in await browser.context.cookies(hub.url)
            if c["name"] == "__Host-telemedroom-hub"
        )
        async with hub.client() as http:
            http.cookies.set("__Host-telemedroom-hub", session)
            no_token = await http.post("/auth/logout", data={})
            assert no_token.status_code == 403
            assert "request refused (csrf)" in no_token.text
            csrf = await browser.get_attribute('header input[name="csrf"]', "value")
            foreign = await http.post(
                "/auth/logout", data={"csrf": csrf}, headers={"origin": "https://evil.example"}
            )
            assert foreign.status_code == 403
            assert "request refused (origin)" in foreign.text
            assert (await http.get("/api/fleet")).status_code == 200  # the session survived both
        # idle past the limit: the session is gone, the browser is sent to log in again
        hub.clock.advance(timedelta(minutes=31))
        await browser.goto(f"{hub.url}/fleet")
        assert browser.url == f"{hub.url}/login"
        reasons = [detail.get("reason") for _action, detail in await audit_actions(hub)]
        assert reasons[-3:] == ["csrf", "origin", "session_expired"]
        # log in again and out with the page's button
        await sso_login(browser, hub, OPERATOR)
        await browser.click("#logout")
        assert "You are logged out." in await browser.text_content("main")
        await browser.goto(f"{hub.url}/fleet")
        assert browser.url == f"{hub.url}/login"
        assert "logout" in [action for action, _ in await audit_actions(hub)]


async def test_local_account_login_with_argon2(hub_factory: HubFactory, browser: Any) -> None:
    """No IdP: the local account file (argon2id hashes) is the way in."""
    async with hub_factory() as hub:
        await browser.goto(f"{hub.url}/login")
        assert await browser.locator("#sso").count() == 0
        await browser.fill('input[name="username"]', "op.local")
        await browser.fill('input[name="password"]', "wrong password")
        async with browser.expect_response(lambda r: r.url.endswith("/auth/local")) as answer:
            await browser.click('#local-login button[type="submit"]')
        assert (await answer.value).status == 401
        assert "bad_credentials" in await browser.text_content("main")
        await browser.goto(f"{hub.url}/login")
        await browser.fill('input[name="username"]', "op.local")
        await browser.fill('input[name="password"]', LOCAL_PASSWORD)
        await browser.click('#local-login button[type="submit"]')
        await browser.wait_for_url(f"{hub.url}/fleet")
        actions = await audit_actions(hub)
        assert actions[-2:] == [("login_refused", {"reason": "bad_credentials"}), ("login", {"via": "local"})]
        async with hub.client() as http:
            # a login form posted from elsewhere (no login CSRF cookie) is refused
            forged = await http.post("/auth/local", data={"username": "op.local", "password": LOCAL_PASSWORD})
            assert forged.status_code == 403
