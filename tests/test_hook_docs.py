"""Every hook spec has documentation in docs/plugins.md and at least one test named after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, "hub_spec")
)


def test_the_spec_list_is_not_empty():
    assert {"verify_webhook", "accept_webhook", "build_issue", "stack_files", "enrich_description",
            "external_update"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### `{hook}`$", docs, re.MULTILINE), f"docs/plugins.md has no section for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    test_files = [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/**/test_*.py")]
    pattern = re.compile(rf"def test_\w*hook_\w*{hook}")
    assert any(pattern.search(path.read_text()) for path in test_files), f"no test function names {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_spec_says_what_none_means(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert "None" in doc, f"the spec of {hook} does not say what None means"
