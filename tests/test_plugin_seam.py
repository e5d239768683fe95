"""The plugin seam: plugins import only ``hub`` itself, and everything they use is in ``hub.__all__``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hub

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCES = sorted([*ROOT.glob("plugins/*/hub_*/**/*.py"), *ROOT.glob("tests/plugins/site/**/*.py"),
                         *ROOT.glob("examples/*/hub_*/**/*.py")])


def _hub_imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == "hub" or node.module.startswith("hub.")):
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names if alias.name.startswith("hub."))
    return found


def test_there_are_plugin_sources_to_check():
    assert {path.parts[-3] for path in PLUGIN_SOURCES} >= {"hub_sentry", "hub_github"} or len(PLUGIN_SOURCES) > 10


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_plugins_import_only_the_public_names_of_hub(path):
    for module, names in _hub_imports(path):
        assert module == "hub", f"{path.name} imports {module}: plugins import only from hub"
        assert set(names) <= set(hub.__all__), f"{path.name} imports {set(names) - set(hub.__all__)} beyond hub.__all__"


@pytest.mark.parametrize("name", hub.__all__)
def test_every_public_name_resolves(name):
    assert getattr(hub, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        hub.no_such_thing  # noqa: B018
