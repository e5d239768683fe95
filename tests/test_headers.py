"""hub.headers.stored_headers: what the delivery log keeps of a delivery's headers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.headers import ALLOWED, MAX_TOTAL_CHARS, MAX_VALUE_CHARS, delivery_id, is_secret, source_headers, \
    stored_headers
from hub.types import Source
from hub_github.webhook import SOURCE as GITHUB
from hub_sentry.plugin import SOURCE as SENTRY

SECRET_NAMES = ["sentry-hook-signature", "authorization", "cookie", "x-api-token", "x-hub-signature-256",
                "x-client-secret", "proxy-authorization", "x-api-key", "set-cookie"]
NAMES = st.one_of(st.sampled_from([*ALLOWED, *SECRET_NAMES, "x-other", "accept", "host"]),
                  st.sampled_from(ALLOWED).map(str.upper), st.text(min_size=1, max_size=30))
VALUES = st.one_of(st.text(max_size=400), st.just("v" * 20_000_000).map(lambda v: v[:MAX_VALUE_CHARS * 40]),
                   st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x9f), max_size=50))


def test_a_real_sentry_delivery_keeps_what_says_what_it_was():
    headers = {"Content-Type": "application/json", "Request-ID": "5e1c1a61-3d5f-4a6f-9b3c-6c2f0d1b8c1e",
               "Sentry-Hook-Resource": "issue", "Sentry-Hook-Timestamp": "1733050000",
               "Sentry-Hook-Signature": "ab" * 32, "User-Agent": "sentry", "Cookie": "s=1", "Accept": "*/*"}
    lowered = {name.lower(): value for name, value in headers.items()}
    assert source_headers(lowered, SENTRY) == {
        "content-type": "application/json", "user-agent": "sentry", "request-id": "5e1c1a61-3d5f-4a6f-9b3c-6c2f0d1b8c1e",
        "sentry-hook-resource": "issue", "sentry-hook-timestamp": "1733050000"}
    assert delivery_id(lowered, SENTRY) == "5e1c1a61-3d5f-4a6f-9b3c-6c2f0d1b8c1e"
    # The host knows no source's header: without the declaration none of Sentry's is kept.
    assert stored_headers(headers) == {"content-type": "application/json", "user-agent": "sentry"}


def test_each_source_declares_its_delivery_id_and_secret_headers():
    headers = {"x-github-delivery": "d-1", "x-github-event": "issues", "x-hub-signature-256": "sha256=ab",
               "request-id": "r-1", "x-request-id": "proxy-1"}
    assert delivery_id(headers, GITHUB) == "d-1"
    assert source_headers(headers, GITHUB) == {"x-request-id": "proxy-1", "x-github-delivery": "d-1",
                                               "x-github-event": "issues"}
    assert delivery_id(headers, SENTRY) == "r-1"
    plain = Source(name="plain", description="")
    assert delivery_id(headers, plain) == "proxy-1" and delivery_id({}, plain) is None
    # A declared secret header is never kept, even one whose name looks harmless.
    odd = Source(name="odd", description="", kept_headers=("x-proof",), secret_headers=("X-Proof",))
    assert source_headers({"x-proof": "s3cr3t"}, odd) == {}


def test_a_20_mb_header_is_cut_to_the_cap():
    stored = stored_headers({"user-agent": "x" * 20_000_000, "content-type": "application/json"})
    assert len(stored["user-agent"]) == MAX_VALUE_CHARS and stored["user-agent"].endswith("…")
    assert stored["content-type"] == "application/json"


def test_extra_allowed_never_admits_a_secret():
    headers = {"x-source-id": "7", "X-Source-Signature": "s", "authorization": "Bearer t"}
    assert stored_headers(headers, extra_allowed=["X-Source-Id", "x-source-signature", "authorization"]) == {
        "x-source-id": "7"}


@settings(max_examples=400, deadline=None, database=None)
@given(st.dictionaries(NAMES, VALUES, max_size=40), st.lists(NAMES, max_size=5))
def test_stored_headers_are_allowed_capped_and_never_secret(headers, extra):
    stored = stored_headers(headers, extra_allowed=extra)
    allowed = {*ALLOWED, *(name.lower() for name in extra)}
    present = {name.lower(): value for name, value in headers.items()}
    assert set(stored) <= allowed and set(stored) <= set(present)
    assert not any(is_secret(name) for name in stored)
    assert sum(len(name) + len(value) for name, value in stored.items()) <= MAX_TOTAL_CHARS
    for name, value in stored.items():
        assert len(value) <= MAX_VALUE_CHARS
        assert not any(ord(char) < 0x20 or 0x7f <= ord(char) <= 0x9f for char in value)
        original = present[name]
        # What is kept is the sender's value, cleaned and perhaps cut, never something else.
        kept = value[:-1] if value.endswith("…") and len(original) > MAX_VALUE_CHARS else value
        assert len(kept) <= len(original)
        assert all(a == b or a == "?" for a, b in zip(kept, original))
    # A header that fits is never dropped while a later, smaller one is kept: the cap is total.
    if len(stored) < len([name for name in present if name in allowed and not is_secret(name)]):
        assert sum(len(name) + len(value) for name, value in stored.items()) > MAX_TOTAL_CHARS - 2 * (
            MAX_VALUE_CHARS + 64)
