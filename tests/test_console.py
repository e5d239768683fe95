"""The console's pages through the real app on SQLite and PostgreSQL: lists, filters, keyset
pages, the issue page, triage and comments from forms, the delivery log with replay and dry run,
jobs retry and cancel, scopes; hostile query parameters and Markdown under hypothesis."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape as html_unescape

import pytest
import sqlalchemy as sa
from hypothesis import given, settings, strategies as st

from hub.console.markdown import render_markdown
from hub.services.queries import COUNT_CAP, decode_cursor
from hub.models import Delivery, Issue, Job, utcnow
from test_sentry_webhook import ENV, deliver, issue_payload

XSS_TITLE = '<img src=x onerror=alert(1)> <script>alert(2)</script>'
XSS_DESCRIPTION = "[click](javascript:alert(3)) <a href=\"javascript:alert(4)\">x</a> <svg onload=alert(5)>"


async def _issue(hc, number: int = 1, **changes) -> str:
    response = await deliver(hc, issue_payload(issue_id=str(1000 + number), **changes))
    assert response.status_code == 200, response.text
    return response.json()["issue"]["identifier"]


def _csrf(client) -> str:
    return client.cookies.get("hub_csrf") or ""


async def _form(hc, path: str, data: dict | None = None):
    """POST a console form as a browser does: the CSRF cookie from a GET, its token in the form."""
    await hc.client.get("/login")
    headers = {"authorization": hc.client.headers["authorization"]}
    return await hc.client.post(path, data={**(data or {}), "_csrf_token": _csrf(hc.client)}, headers=headers,
                                follow_redirects=False)


async def test_every_page_renders_with_a_read_token_and_sends_a_strict_policy(hub_client):
    async with hub_client(env=ENV) as hc:
        identifier = await _issue(hc)
        for path in ("/", "/issues", f"/issues/{identifier}", "/deliveries", "/jobs"):
            response = await hc.client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none'
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert "<script" not in response.text
        css = await hc.client.get("/static/console.css", headers={"authorization": ""})
        assert css.status_code == 200 and "console" in css.text


async def test_anonymous_pages_go_to_the_login(hub_client):
    async with hub_client(token_scope=None) as hc:
        for path in ("/", "/issues", "/deliveries", "/jobs"):
            response = await hc.client.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


async def test_the_issue_list_filters_searches_sorts_and_pages(hub_client):
    async with hub_client(env=ENV) as hc:
        for number in range(1, 8):
            await _issue(hc, number, title=f"Boom number {number}" if number % 2 else f"Other failure {number}")
        listed = (await hc.client.get("/issues")).text
        assert listed.index("CHIPP-7") < listed.index("CHIPP-1")  # newest first
        found = (await hc.client.get("/issues", params={"q": "boom"})).text
        assert "Boom number 3" in found and "Other failure" not in found
        assert "CHIPP-4" in (await hc.client.get("/issues", params={"q": "chipp-4"})).text
        assert "No issue matches" in (await hc.client.get("/issues", params={"status": "closed"})).text
        # Keyset pages: 3 per page over 7 issues, every issue once, in order.
        seen, cursor = [], None
        from hub.services.queries import IssueFilters, list_issues
        while True:
            page = await list_issues(hc.hub.engine, IssueFilters(), cursor, per_page=3)
            seen += [row["identifier"] for row in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"CHIPP-{n}" for n in range(7, 0, -1)]
        # The next-page link the page shows carries the cursor and the filters.
        page = await list_issues(hc.hub.engine, IssueFilters(q="boom"), None, per_page=2)
        assert [row["title"].split("] ")[-1] for row in page.rows] == ["Boom number 7", "Boom number 5"]
        assert (page.total, page.total_capped) == (2, True)  # a search is not counted: "2+"
        second = await list_issues(hc.hub.engine, IssueFilters(q="boom"), page.next_cursor, per_page=2)
        assert [row["title"].split("] ")[-1] for row in second.rows] == ["Boom number 3", "Boom number 1"]


async def test_sort_by_priority_pages_through_p0_first(hub_client):
    async with hub_client(env=ENV, token_scope="write") as hc:
        identifiers = [await _issue(hc, number) for number in range(1, 6)]
        for identifier, priority in zip(identifiers, ["P2", "P0", "P4", "P0", "P1"]):
            assert (await hc.client.patch(f"/api/issues/{identifier}", json={"priority": priority})).status_code == 200
        from hub.services.queries import IssueFilters, list_issues
        rows, cursor = [], None
        while True:
            page = await list_issues(hc.hub.engine, IssueFilters(sort="priority"), cursor, per_page=2)
            rows += [(row["priority"], row["identifier"]) for row in page.rows]
            if (cursor := page.next_cursor) is None:
                break
        assert rows == [("P0", "CHIPP-2"), ("P0", "CHIPP-4"), ("P1", "CHIPP-5"), ("P2", "CHIPP-1"), ("P4", "CHIPP-3")]


async def test_totals_are_capped_not_counted_to_the_end(hub_client):
    async with hub_client(env=ENV) as hc:
        now = utcnow()
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.insert(Issue.__table__), [
                {"id": f"id-{n}", "number": n, "identifier": f"CHIPP-{n}", "title": f"t{n}", "description": "",
                 "priority": "P3", "status": "open", "created_at": now, "updated_at": now}
                for n in range(1, COUNT_CAP + 3)])
        text = (await hc.client.get("/issues")).text
        assert f"({COUNT_CAP:,}+)" in text, re.findall(r"<h1>.*?</h1>", text)


async def test_markdown_is_rendered_and_xss_is_inert_in_the_html(hub_client):
    async with hub_client(env=ENV) as hc:
        identifier = await _issue(hc, title=XSS_TITLE)
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.update(Issue.__table__).values(
                description=f"# Heading\n\n**bold** {XSS_DESCRIPTION}\n\n[ok](https://example.org)"))
        page = (await hc.client.get(f"/issues/{identifier}")).text
        assert "<h1>Heading</h1>" in page and "<strong>bold</strong>" in page
        assert 'href="https://example.org"' in page
        assert not re.search(r"<[^>]*\son\w+\s*=", page)  # no event handler in any tag
        assert "&lt;img src=x onerror=alert(1)" in page  # the title shows as text
        assert not re.search(r"<(script|svg|img)\b", page)
        assert not re.search(r"href=\"\s*javascript:", page, re.IGNORECASE)


async def test_triage_and_comment_forms_change_the_issue_as_the_person(hub_client):
    async with hub_client(env=ENV, token_scope="write") as hc:
        identifier = await _issue(hc)
        response = await _form(hc, f"/issues/{identifier}/triage", {"status": "closed", "priority": "P1",
                                                                    "assignee": "ana"})
        assert response.status_code == 303 and response.headers["location"] == f"/issues/{identifier}"
        response = await _form(hc, f"/issues/{identifier}/comment", {"body": "Looking at *it*"})
        assert response.status_code == 303
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert (issue["status"], issue["priority"], issue["assignee"]) == ("closed", "P1", "ana")
        assert issue["comments"][-1]["body"] == "Looking at *it*"
        assert {event["kind"] for event in issue["events"]} >= {"close", "priority", "assign", "comment"}
        assert all(event["actor"].startswith("token:") for event in issue["events"] if event["kind"] != "created")
        page = (await hc.client.get(f"/issues/{identifier}")).text
        assert "Looking at <em>it</em>" in page
        # Without the CSRF token the form is refused.
        refused = await hc.client.post(f"/issues/{identifier}/comment", data={"body": "x"},
                                       headers={"authorization": ""}, follow_redirects=False)
        assert refused.status_code in (401, 403)


async def test_a_read_token_cannot_triage_replay_or_retry(hub_client):
    async with hub_client(env=ENV, token_scope="read") as hc:
        identifier = await _issue(hc)
        page = (await hc.client.get(f"/issues/{identifier}")).text
        assert "/triage" not in page and "Comment (Markdown)" not in page
        assert (await _form(hc, f"/issues/{identifier}/triage", {"status": "closed"})).status_code == 403
        async with hc.hub.engine.connect() as connection:
            delivery_id = (await connection.execute(sa.select(Delivery.__table__.c.id))).scalar_one()
        assert (await _form(hc, f"/deliveries/{delivery_id}/replay")).status_code == 403
        assert (await _form(hc, f"/deliveries/{delivery_id}/dry-run")).status_code == 403


async def test_the_delivery_log_shows_headers_body_and_answer_and_filters(hub_client):
    async with hub_client(env=ENV) as hc:
        await _issue(hc)
        await deliver(hc, issue_payload(issue_id="9"), signature="0" * 64)  # refused: 401
        listed = (await hc.client.get("/deliveries")).text
        assert "unauthorized" in listed and "created" in listed
        only = (await hc.client.get("/deliveries", params={"outcome": "unauthorized", "since": "1h"})).text
        assert 'class="status unauthorized"' in only and 'class="status created"' not in only
        async with hc.hub.engine.connect() as connection:
            rows = dict((await connection.execute(sa.select(Delivery.__table__.c.outcome, Delivery.__table__.c.id))).all())
        page = (await hc.client.get(f"/deliveries/{rows['created']}")).text
        assert "sentry-hook-resource" in page and "sentry-hook-signature" not in page
        assert "&#34;action&#34;: &#34;created&#34;" in page or "&quot;action&quot;" in page or '"action": "created"' in page
        assert "CHIPP-1" in page
        refused = (await hc.client.get(f"/deliveries/{rows['unauthorized']}")).text
        assert "401" in refused and "0000000000" not in refused


async def test_dry_run_writes_nothing_and_replay_goes_through_the_pipeline(hub_client):
    async with hub_client(env=ENV, token_scope="admin") as hc:
        await _issue(hc)
        async with hc.hub.engine.connect() as connection:
            delivery_id = (await connection.execute(sa.select(Delivery.__table__.c.id))).scalar_one()

        async def counts():
            async with hc.hub.engine.connect() as connection:
                return [(await connection.execute(sa.select(sa.func.count()).select_from(model.__table__))).scalar()
                        for model in (Issue, Delivery, Job)]

        before = await counts()
        dry = await _form(hc, f"/deliveries/{delivery_id}/dry-run")
        assert dry.status_code == 200 and "Dry run: deduplicated" in dry.text and "CHIPP-1" in dry.text
        assert await counts() == before
        replayed = await _form(hc, f"/deliveries/{delivery_id}/replay")
        assert replayed.status_code == 200 and "Replayed: 200 deduplicated" in replayed.text
        assert (await counts())[1] == before[1] + 1  # a new delivery-log row, no new issue
        assert (await counts())[0] == before[0]


async def test_the_dry_run_of_a_refused_delivery_shows_the_issue_it_would_have_made(hub_client):
    """A delivery refused for its signature is in the log; its dry run (no signature check) says it
    would create an issue, and shows it (the page once failed on a dry run without a reason)."""
    async with hub_client(env=ENV, token_scope="admin") as hc:
        refused = await deliver(hc, issue_payload(issue_id="4242", title="Refused but real"), signature="0" * 64)
        assert refused.status_code == 401
        async with hc.hub.engine.connect() as connection:
            delivery_id = (await connection.execute(sa.select(Delivery.__table__.c.id))).scalar_one()
        dry = await _form(hc, f"/deliveries/{delivery_id}/dry-run")
        assert dry.status_code == 200, dry.text
        assert "Dry run: created" in dry.text and "Refused but real" in html_unescape(dry.text)
        async with hc.hub.engine.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(Issue.__table__))).scalar() == 0


async def test_a_replay_is_a_new_delivery_not_an_echo_of_its_request_id(hub_client):
    async with hub_client(env=ENV, token_scope="admin") as hc:
        response = await deliver(hc, issue_payload(), headers={"request-id": "sentry-delivery-1"})
        assert response.status_code == 200
        async with hc.hub.engine.connect() as connection:
            delivery_id = (await connection.execute(sa.select(Delivery.__table__.c.id))).scalar_one()
        replayed = await _form(hc, f"/deliveries/{delivery_id}/replay")
        # Without the request id left out, the hub would answer it as the repeat of the first.
        assert "Replayed: 200 deduplicated" in replayed.text
        async with hc.hub.engine.connect() as connection:
            ids = (await connection.execute(sa.select(Delivery.__table__.c.request_id)
                                            .order_by(Delivery.__table__.c.created_at))).scalars().all()
        assert ids == ["sentry-delivery-1", None]


async def test_a_rejected_delivery_is_never_replayed(hub_client):
    async with hub_client(env=ENV, token_scope="admin") as hc:
        await deliver(hc, issue_payload(), signature="0" * 64)
        async with hc.hub.engine.connect() as connection:
            delivery_id = (await connection.execute(sa.select(Delivery.__table__.c.id))).scalar_one()
        assert "Replay</button>" not in (await hc.client.get(f"/deliveries/{delivery_id}")).text
        assert (await _form(hc, f"/deliveries/{delivery_id}/replay")).status_code == 409
        async with hc.hub.engine.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(Issue.__table__))).scalar() == 0


async def test_jobs_page_retries_and_cancels(hub_client):
    async with hub_client(env=ENV, token_scope="admin", raw={"github": {"repo": "o/r"}}) as hc:
        await _issue(hc)
        async with hc.hub.engine.begin() as connection:
            job_id = (await connection.execute(sa.select(Job.__table__.c.id))).scalars().first()
            if job_id is None:
                pytest.skip("no enrichment job without an enricher configured")
            await connection.execute(sa.update(Job.__table__).values(status="failed", attempts=6,
                                                                      last_error="GitHub said 502"))
        page = (await hc.client.get("/jobs", params={"status": "failed"})).text
        assert "GitHub said 502" in page and "Retry now" in page
        assert (await _form(hc, f"/jobs/{job_id}/retry")).status_code == 303
        async with hc.hub.engine.connect() as connection:
            row = (await connection.execute(sa.select(Job.__table__).where(Job.__table__.c.id == job_id))).mappings().one()
        assert (row["status"], row["attempts"]) == ("queued", 0)
        assert (await _form(hc, f"/jobs/{job_id}/cancel")).status_code == 303
        async with hc.hub.engine.connect() as connection:
            status = (await connection.execute(sa.select(Job.__table__.c.status))).scalar()
        assert status == "cancelled"


async def test_overview_counts_the_last_day(hub_client):
    async with hub_client(env=ENV) as hc:
        await _issue(hc, 1)
        await _issue(hc, 2)
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.update(Issue.__table__).where(Issue.__table__.c.identifier == "CHIPP-2")
                                     .values(created_at=utcnow() - timedelta(days=3)))
        from hub.services.queries import overview
        figures = await overview(hc.hub.engine)
        assert sum(figures["issues_per_hour"]) == 1 and figures["issues_per_hour"][-1] == 1
        assert figures["outcomes"] == {"created": 2}
        page = (await hc.client.get("/")).text
        assert "<svg" in page and "<rect" in page


def test_hostile_query_parameters_are_400_or_a_page_never_500(database_url):
    import asyncio

    from litestar.testing import TestClient

    from hub.app import create_app
    from hub.plugins import build_plugin_manager
    from support import _new_token, make_settings

    pm = build_plugin_manager()
    hub_settings = make_settings(database_url, pm=pm)
    token = asyncio.run(_new_token(hub_settings, "read"))
    # One app for every example (a new one per example would cost a second each).
    with TestClient(app=create_app(hub_settings, pm, start_worker=False, migrate=False)) as client:
        client.headers["authorization"] = f"Bearer {token}"

        @settings(max_examples=150, deadline=None)
        @given(name=st.sampled_from(["q", "status", "priority", "label", "source", "assignee", "sort", "after",
                                     "outcome", "since"]),
               value=st.text(max_size=300) | st.sampled_from(["open", "P0", "priority", "24h", "created"]))
        def hostile(name: str, value: str) -> None:
            for path in ("/issues", "/deliveries", "/jobs", "/api/issues"):
                response = client.get(path, params={name: value})
                assert response.status_code in (200, 400), (path, name, value, response.status_code)

        hostile()


@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=20) | st.none(), max_size=3))
def test_cursors_decode_or_say_malformed(values):
    import base64
    import json
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
    try:
        decode_cursor(cursor, (str, int))
    except ValueError:
        pass


_DANGER = re.compile(r"<(script|img|svg|iframe|object|embed|style|form|input)\b|\son\w+\s*=|javascript:|data:",
                     re.IGNORECASE)


_PIECES = st.sampled_from(list("<>\"'=/:() []!*`-#\nabc") + [
    "<img", " onerror=", "javascript:", "<script>", "<svg", " onload=", "](", "data:", "<a href=", "&#106;",
    "<iframe", "<style>", "jav&#x09;ascript:", "<!--", "-->"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_any_markdown_renders_without_active_content(text):
    html = str(render_markdown(text))
    # Tags and attributes may only appear escaped; hrefs (of real tags, not text) only with a safe scheme.
    for href in re.findall(r'href="([^"]*)"', _strip_text(html)):
        # As a browser reads it: tabs and newlines dropped, then a scheme is letters before ':'.
        scheme = re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):", re.sub(r"[\t\n\r]", "", html_unescape(href)))
        assert scheme is None or scheme.group(1).lower() in ("http", "https", "mailto"), href
    assert not _DANGER.search(re.sub(r'href="[^"]*"', "", _strip_text(html)))


def _strip_text(html: str) -> str:
    # Only markup matters: text between tags is escaped by construction.
    return "".join(re.findall(r"<[^>]*>", html))


async def test_the_delivery_log_and_the_jobs_page_through_every_row_once_newest_first(hub_client):
    from hub.services.queries import list_deliveries, list_jobs

    async with hub_client(env=ENV) as hc:
        for number in range(1, 6):
            await _issue(hc, number)
        async with hc.hub.engine.begin() as connection:  # distinct times, so the order is known
            for table in (Delivery.__table__, Job.__table__):
                ids = (await connection.execute(sa.select(table.c.id))).scalars().all()
                column = table.c.created_at if table is Delivery.__table__ else table.c.updated_at
                for offset, row_id in enumerate(ids):
                    await connection.execute(sa.update(table).where(table.c.id == row_id)
                                             .values({column.name: utcnow() - timedelta(minutes=offset)}))
        for listing, column in ((list_deliveries, "created_at"), (list_jobs, "updated_at")):
            seen, cursor = [], None
            for _ in range(10):  # bounded: a cursor that does not advance must fail, not hang
                page = await listing(hc.hub.engine, cursor=cursor, per_page=2)
                seen += [row[column] for row in page.rows]
                if (cursor := page.next_cursor) is None:
                    break
            assert len(seen) == 5 and seen == sorted(seen, reverse=True), listing.__name__
