"""Fixtures for the Alertmanager plugin's unit tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from hub import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def recorded() -> Callable[[str], Any]:
    """``recorded("firing.json")``: a fresh copy of a body a real Alertmanager sent (fixtures/README.md)."""
    return lambda name: copy.deepcopy(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def settings() -> Callable[..., Settings]:
    """``settings(alertmanager={...}, env={...})``: Settings with the Alertmanager section."""
    from hub.config import build_settings

    from hub_alertmanager.settings import CONFIG_SECTION

    def build(alertmanager: dict | None = None, env: dict | None = None) -> Settings:
        raw: dict[str, Any] = {"hub": {"timezone": "UTC"}}
        if alertmanager is not None:
            raw["alertmanager"] = alertmanager
        return build_settings(raw, [CONFIG_SECTION], env=env or {})
    return build
