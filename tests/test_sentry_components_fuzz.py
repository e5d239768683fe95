"""Sentry's UI-component requests, signed, with any field hostile: never a 5xx, on both databases."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from hostile import ANY_TEXT, hostile
from support import FIXTURES, SENTRY_SECRET, sign, sync_client, with_value

COMPONENTS = FIXTURES / "sentry" / "components"
CREATE = json.loads((COMPONENTS / "issue-link-create.json").read_text())
SETTINGS = json.loads((COMPONENTS / "alert-rule-settings.json").read_text())
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
WRONG = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ANY_TEXT, st.just([]),
                  st.just({}), st.just("\u0000\ud800"), hostile())
CREATE_PATHS = [("issueId",), ("webUrl",), ("project",), ("project", "slug"), ("project", "id"), ("actor",),
                ("actor", "name"), ("fields",), *(("fields", name) for name in CREATE["fields"])]


def _client(database_url: str) -> TestClient:
    return sync_client(database_url, {"SENTRY_CLIENT_SECRET": SENTRY_SECRET})


def _post(client: TestClient, path: str, body: bytes) -> None:
    response = client.post(f"/api/sentry/{path}", content=body,
                           headers={"content-type": "application/json", "sentry-app-signature": sign(body, SENTRY_SECRET)})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        message = response.json()["message"]
        assert message and "\n" not in message


def test_hostile_component_requests_are_never_a_server_error(database_url):
    with _client(database_url) as client:
        @FUZZ
        @given(path=st.sampled_from(CREATE_PATHS), value=WRONG, endpoint=st.sampled_from(["issue-link/create",
                                                                                           "issue-link/link"]))
        # A lone surrogate reaches the delivery log's event and the log line through the actor.
        @example(path=("actor", "name"), value="\ud800 Jane\u0000", endpoint="issue-link/create")
        @example(path=("fields", "title"), value="\ud800", endpoint="issue-link/create")
        def issue_link(path: tuple, value: Any, endpoint: str) -> None:
            _post(client, endpoint, with_value(CREATE, path, value))

        @FUZZ
        @given(index=st.integers(0, 3), key=st.sampled_from(["name", "value"]), value=WRONG)
        def alert_rule(index: int, key: str, value: Any) -> None:
            _post(client, "alert-rule-action", with_value(SETTINGS, ("fields", index, key), value))

        @FUZZ
        # Any text a URL can carry (a lone surrogate cannot be percent-encoded, so never arrives).
        @given(query=st.dictionaries(st.sampled_from(["query", "projectSlug", "filename", "lineNo"]),
                                     st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)))
        @example(query={"lineNo": "\u00b2", "filename": "a.py"})
        @example(query={"query": "\u0000", "filename": "\u0661"})
        def lookups(query: dict) -> None:
            for path in ("issue-link/search", "stacktrace-link"):
                response = client.get(f"/api/sentry/{path}", params=query, follow_redirects=False,
                                      headers={"sentry-app-signature": sign(b"", SENTRY_SECRET)})
                assert response.status_code < 500, response.text

        issue_link()
        alert_rule()
        lookups()


#: Text a person can type in Sentry's one-line form field (no control characters, no lone halves
#: of a surrogate pair, which JSON from a browser never carries), at least one visible character.
ONE_LINE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200).filter(str.strip)
MULTI_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400)


def test_any_text_a_person_types_makes_the_issue_it_says(database_url):
    """The success path under generated input: a valid create with any title, description and
    actor name answers 200 and stores the title as the form gave it (escaped for Markdown)."""
    import sqlalchemy as sa

    from hub import escape_markdown
    from hub.db import sync_url

    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    made = iter(range(10**9, 2 * 10**9))
    with _client(database_url) as client:
        @FUZZ
        @given(title=ONE_LINE, description=MULTI_LINE, actor=ANY_TEXT)
        @example(title="KeyError: 'user_id' <script>", description="a\r\n\u2028b", actor="\u0000")
        def create(title: str, description: str, actor: str) -> None:
            body = json.loads(with_value(CREATE, ("fields", "title"), title))
            body["fields"]["description"] = description
            body["actor"]["name"] = actor
            body["issueId"] = next(made)  # a Sentry issue not linked yet
            raw = json.dumps(body).encode()
            response = client.post("/api/sentry/issue-link/create", content=raw, headers={
                "content-type": "application/json", "sentry-app-signature": sign(raw, SENTRY_SECRET)})
            assert response.status_code == 200, response.text
            identifier = response.json()["identifier"]
            with engine.connect() as connection:
                stored = connection.execute(sa.text("SELECT title FROM chipp_issue WHERE number = :n"),
                                            {"n": int(identifier)}).scalar_one()
            assert stored == f"[front-end] {escape_markdown(title.strip())}"[:500]

        create()
    engine.dispose()
