"""The shared cache plugins get (hub_cache rows): values, replacement, expiry, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub import db
from hub.cache import DbCache
from hub.config import DatabaseSettings


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


async def test_values_are_shared_replaced_and_expire(database_url):
    engine = db.create_engine(DatabaseSettings(url=database_url))
    clock = Clock()
    try:
        cache, other_process = DbCache(engine, clock), DbCache(engine, clock)
        assert await cache.get("github.commit", "a/b@1") is None
        await cache.set("github.commit", "a/b@1", {"sha": "1", "files": ["x.py", "ü.ts"]})
        assert await other_process.get("github.commit", "a/b@1") == {"sha": "1", "files": ["x.py", "ü.ts"]}
        await other_process.set("github.commit", "a/b@1", {"sha": "1", "files": []})
        assert await cache.get("github.commit", "a/b@1") == {"sha": "1", "files": []}
        assert await cache.get("github.etag", "a/b@1") is None  # namespaces are apart
        await cache.set("github.etag", "url", {"etag": "W/1"}, ttl_seconds=60)
        clock.now += timedelta(seconds=59)
        assert await cache.get("github.etag", "url") == {"etag": "W/1"}
        clock.now += timedelta(seconds=2)
        assert await cache.get("github.etag", "url") is None
    finally:
        await engine.dispose()
