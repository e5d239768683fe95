"""Fixtures for the Sentry plugin's unit tests."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from hub.config import Settings, build_settings

from hub_sentry.settings import CONFIG_SECTION
from sentry_fixtures import GOLDEN, SEED_EXAMPLE


@pytest.fixture
def seed_payload() -> dict:
    """A fresh copy of the seed's example delivery."""
    return copy.deepcopy(SEED_EXAMPLE)


@pytest.fixture
def settings() -> Callable[..., Settings]:
    """``settings(sentry={...}, env={...}, timezone="UTC")``: Settings with the Sentry section."""
    def build(sentry: dict | None = None, env: dict | None = None, timezone: str = "UTC") -> Settings:
        raw: dict[str, Any] = {"hub": {"timezone": timezone}}
        if sentry is not None:
            raw["sentry"] = sentry
        return build_settings(raw, [CONFIG_SECTION], env=env or {})
    return build


@pytest.fixture
def golden() -> Callable[[str], str]:
    """The text of a golden file."""
    return lambda name: (GOLDEN / name).read_text()
