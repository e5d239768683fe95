"""``hub sentry schema`` prints a schema Sentry accepts: validated with Sentry's own JSON schema
(ported verbatim: tests/fixtures/sentry/components/sentry-app-schema.json) and its pre-checks."""

from __future__ import annotations

import json

import jsonschema
import pytest
from jsonschema import Draft7Validator

from hub import cli
from hub.plugins import build_plugin_manager
from support import FIXTURES

SENTRY = json.loads((FIXTURES / "sentry" / "components" / "sentry-app-schema.json").read_text())
# src/sentry/sentry_apps/api/parsers/schema.py: ELEMENT_TYPES, DEFAULT_TEXT_TYPES, TEXT_COMPONENTS.
ELEMENT_TYPES = ["issue-link", "alert-rule-action", "issue-media", "stacktrace-link"]
DEFAULT_TEXT_TYPES = ["issue.title", "issue.description"]


def validate_like_sentry(instance: dict) -> None:
    """``validate_ui_element_schema``: the pre-checks, each element alone, then the whole schema."""
    assert isinstance(instance["elements"], list)
    seen = set()
    for element in instance["elements"]:
        assert element["type"] in ELEMENT_TYPES
        assert element["type"] not in seen, f"Multiple elements of type: {element['type']}"
        seen.add(element["type"])
        data = element["settings"] if element["type"] == "alert-rule-action" else element
        forms = [data] if element["type"] != "issue-link" else [data["create"], data["link"]]
        for form in forms:
            for field in form.get("optional_fields", []) + form.get("required_fields", []):
                if field.get("type") in ("text", "textarea") and field.get("default"):
                    assert field["default"] in DEFAULT_TEXT_TYPES
        # validate_component: every definition becomes a top-level property.
        component = {**SENTRY["schema"], "properties": SENTRY["schema"]["definitions"]}
        del component["required"]
        Draft7Validator(component).validate({element["type"]: element})
    Draft7Validator(SENTRY["schema"]).validate(instance)


def _printed(capsys, tmp_path, monkeypatch, *extra: str) -> tuple[int, str, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    (tmp_path / "hub.toml").write_text("")
    status = cli.main(["sentry", "schema", "--config", str(tmp_path / "hub.toml"), *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_hook_register_commands_hub_sentry_schema_prints_a_schema_sentry_accepts(capsys, tmp_path, monkeypatch):
    status, out, _err = _printed(capsys, tmp_path, monkeypatch)
    assert status == 0
    schema = json.loads(out)
    validate_like_sentry(schema)
    assert [element["type"] for element in schema["elements"]] == ["issue-link", "alert-rule-action", "stacktrace-link"]
    uris = {element["type"]: element.get("uri") or element.get("settings", {}).get("uri") or element["create"]["uri"]
            for element in schema["elements"]}
    assert uris == {"issue-link": "/api/sentry/issue-link/create", "alert-rule-action": "/api/sentry/alert-rule-action",
                    "stacktrace-link": "/api/sentry/stacktrace-link"}


def test_every_uri_in_the_schema_is_a_route_the_hub_serves(capsys, tmp_path, monkeypatch):
    from hub.endpoints import registered_endpoints

    _status, out, _err = _printed(capsys, tmp_path, monkeypatch)
    text = json.dumps(json.loads(out))
    uris = {value for value in (part.split('"')[0] for part in text.split('"uri": "')[1:])}
    served = {endpoint.url_path for endpoint in registered_endpoints(build_plugin_manager(), None)}
    assert uris and uris <= served


def test_a_proxy_prefix_comes_from_the_webhook_url(capsys, tmp_path, monkeypatch):
    status, out, _err = _printed(capsys, tmp_path, monkeypatch, "--webhook-url",
                                 "https://tools.example.com/hub/api/sentry/webhook")
    assert status == 0
    schema = json.loads(out)
    validate_like_sentry(schema)
    assert schema["elements"][2]["uri"] == "/hub/api/sentry/stacktrace-link"
    status, out, err = _printed(capsys, tmp_path, monkeypatch, "--webhook-url", "https://tools.example.com/hook")
    assert status == 1 and err.strip().splitlines()[-1].startswith("hub: --webhook-url must be")


def test_the_ported_validator_refuses_what_sentry_refuses():
    # The validator is not vacuous: absolute URIs and unknown defaults fail as they do in Sentry.
    with pytest.raises(jsonschema.ValidationError):
        Draft7Validator(SENTRY["schema"]).validate({"elements": [{"type": "stacktrace-link", "uri": "https://x.io/a"}]})
    with pytest.raises(AssertionError):
        validate_like_sentry({"elements": [{"type": "alert-rule-action", "title": "t", "settings": {
            "type": "alert-rule-settings", "uri": "/a",
            "required_fields": [{"type": "text", "name": "n", "label": "l", "default": "issue.culprit"}]}}]})
