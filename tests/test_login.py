"""People sign in: login, CSRF, rate limit, logout, token login, the first-run link; both databases."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hub.auth.accounts import add_user
from hub.auth.tokens import create_token

pytestmark = pytest.mark.usefixtures("echo_installed")

PASSWORD = "correct horse battery staple"
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def csrf_token(client) -> str:
    page = await client.get("/login")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


async def sign_in(client, name: str, password: str, **extra):
    token = await csrf_token(client)
    return await client.post("/login", data={"name": name, "password": password, "_csrf_token": token, **extra},
                             follow_redirects=False)


async def test_login_opens_a_session_and_logout_ends_it(hub_client):
    async with hub_client(token_scope=None) as hc:
        await add_user(hc.hub.engine, "alice", PASSWORD, "write")
        assert (await hc.client.get("/", follow_redirects=False)).headers["location"] == "/login?next=/"
        response = await sign_in(hc.client, "alice", PASSWORD, next="/api/issues")
        assert response.status_code == 303 and response.headers["location"] == "/api/issues"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hub_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
        home = await hc.client.get("/")
        assert home.status_code == 200 and "user:alice" in home.text
        # Signing in again replaces the session: the earlier cookie stops working.
        earlier = hc.client.cookies.get("hub_session")
        assert (await sign_in(hc.client, "alice", PASSWORD)).status_code == 303
        assert hc.client.cookies.get("hub_session") != earlier
        stale = await hc.client.get("/api/issues", headers={"cookie": f"hub_session={earlier}"})
        assert stale.status_code == 401
        assert (await hc.client.get("/api/issues")).status_code == 200
        logout = await hc.client.post("/logout", data={"_csrf_token": await csrf_token(hc.client)},
                                     follow_redirects=False)
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        assert (await hc.client.get("/api/issues")).status_code == 401


async def test_the_session_cookie_is_secure_over_https(hub_client):
    async with hub_client(token_scope=None) as hc:
        await add_user(hc.hub.engine, "alice", PASSWORD)
        hc.client.base_url = "https://testserver.local"
        response = await sign_in(hc.client, "alice", PASSWORD)
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hub_session="))
        assert "Secure" in cookie


async def test_a_wrong_password_an_unknown_account_and_an_open_redirect_are_refused(hub_client):
    async with hub_client(token_scope=None) as hc:
        await add_user(hc.hub.engine, "alice", PASSWORD)
        wrong = await sign_in(hc.client, "alice", "not the password")
        unknown = await sign_in(hc.client, "mallory", "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong account, password or token." in wrong.text and "hub_session" not in str(wrong.headers)
        away = await sign_in(hc.client, "alice", PASSWORD, next="//evil.example/")
        assert away.headers["location"] == "/"


async def test_posts_without_the_csrf_token_are_refused(hub_client):
    async with hub_client(token_scope=None) as hc:
        await add_user(hc.hub.engine, "alice", PASSWORD, "write")
        await hc.client.get("/login")  # the CSRF cookie, but no token in the form
        refused = await hc.client.post("/login", data={"name": "alice", "password": PASSWORD})
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        assert (await sign_in(hc.client, "alice", PASSWORD)).status_code == 303
        # A session-cookie API write needs the token in the X-CSRFToken header; a Bearer write does not.
        created = await hc.client.post("/api/echo/webhook", content=b'{"id": "c1", "action": "open"}',
                                       headers={"content-type": "application/json"})
        assert created.status_code == 200  # a webhook needs no CSRF token, cookies or not
        body = {"content": b'{"priority": "P1"}', "headers": {"content-type": "application/json"}}
        assert (await hc.client.patch("/api/issues/CHIPP-1", **body)).status_code == 403
        token = hc.client.cookies.get("hub_csrf")
        with_header = await hc.client.patch("/api/issues/CHIPP-1", content=body["content"],
                                             headers={**body["headers"], "x-csrftoken": token})
        assert with_header.status_code == 200
        assert with_header.json()["events"][0]["actor"] == "user:alice"
        bearer = await create_token(hc.hub.engine, "ci", "write")
        hc.client.cookies.clear()
        api = await hc.client.patch("/api/issues/CHIPP-1", content=b'{"priority": "P2"}',
                                    headers={**body["headers"], "authorization": f"Bearer {bearer}"})
        assert api.status_code == 200


async def test_an_api_token_works_in_place_of_a_password(hub_client):
    async with hub_client(token_scope=None) as hc:
        token = await create_token(hc.hub.engine, "robot", "read")
        response = await sign_in(hc.client, "", token)
        assert response.status_code == 303
        assert "token:robot" in (await hc.client.get("/")).text


async def test_failed_logins_are_limited_per_account_and_per_address(hub_client):
    raw = {"auth": {"login_failures_per_account": 3, "login_failures_per_address": 5}}
    async with hub_client(raw=raw, token_scope=None) as hc:
        await add_user(hc.hub.engine, "alice", PASSWORD)
        await add_user(hc.hub.engine, "bob", PASSWORD)
        for _ in range(3):
            assert (await sign_in(hc.client, "alice", "guess")).status_code == 401
        # Locked: even the right password is refused while the window lasts.
        limited = await sign_in(hc.client, "alice", PASSWORD)
        assert limited.status_code == 429 and "Too many" in limited.text
        for _ in range(2):
            assert (await sign_in(hc.client, "carol", "guess")).status_code == 401
        # The address has failed 5 times now: bob, never tried, is limited from here too.
        assert (await sign_in(hc.client, "bob", PASSWORD)).status_code == 429
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.text("UPDATE hub_login_attempt SET created_at = '2000-01-01T00:00:00+00:00'"))
        assert (await sign_in(hc.client, "alice", PASSWORD)).status_code == 303


def _first_run_link(caplog) -> str:
    line = next(r.getMessage() for r in caplog.records if "Sign in as the first admin" in r.getMessage())
    return re.search(r"(/login/first-run\?token=\S+)", line).group(1)


async def test_the_first_run_link_works_once(hub_client, caplog):
    async with hub_client(token_scope=None) as hc:
        link = _first_run_link(caplog)
        first = await hc.client.get(link, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert "first-admin" in (await hc.client.get("/")).text
        assert (await hc.client.get("/api/tokens")).status_code == 200  # an admin session
        hc.client.cookies.clear()
        again = await hc.client.get(link, follow_redirects=False)
        assert again.status_code == 401 and "used or has expired" in again.text


async def test_the_first_run_link_expires(hub_client, caplog):
    async with hub_client(token_scope=None) as hc:
        link = _first_run_link(caplog)
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.text("UPDATE hub_login_link SET expires_at = '2000-01-01T00:00:00+00:00'"))
        assert (await hc.client.get(link, follow_redirects=False)).status_code == 401


async def test_no_first_run_link_once_someone_can_sign_in(database_url, caplog):
    from support import hub_client_factory

    factory = hub_client_factory(database_url)
    async with factory(token_scope="read"):
        pass
    caplog.clear()
    async with factory(token_scope=None):
        assert not any("first admin" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("header", ["X-Forwarded-Email"])
async def test_a_trusted_header_from_an_untrusted_address_is_ignored(hub_client, header):
    # The test client's address is not in trusted_proxies: the header means nothing.
    raw = {"auth": {"trusted_header": header, "trusted_proxies": ["10.9.9.9"]}}
    async with hub_client(raw=raw, token_scope=None) as hc:
        assert (await hc.client.get("/api/issues", headers={header: "alice@example.com"})).status_code == 401
