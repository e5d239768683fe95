"""Build the plugin manager: hook specs, then every installed plugin of entry-point group ``hub``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Iterable

import pluggy

from hub import hookspecs
from hub.types import ConfigSection, Source

__all__ = ["PluginInfo", "PluginLoadError", "await_maybe", "build_plugin_manager", "config_sections", "flatten", "plugin_infos", "sources"]

ENTRY_POINT_GROUP = "hub"


def build_plugin_manager(
    disabled: Iterable[str] = (), *, load_entry_points: bool = True, extra: Iterable[object] = ()
) -> pluggy.PluginManager:
    """Return a PluginManager with the hub's specs, the installed plugins and ``extra`` ones.

    ``disabled`` names entry points (``[plugins] disabled``) that are blocked before loading.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            _name_the_failure(pm)
            raise PluginLoadError(None, exc) from exc
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


class PluginLoadError(Exception):
    """An installed plugin could not be imported: said in one line, with the way out."""

    def __init__(self, name: str | None, error: Exception) -> None:
        which = f"plugin {name!r}" if name else "a plugin"
        disable = f'[plugins] disabled = ["{name}"]' if name else "[plugins] disabled"
        super().__init__(f"{which} failed to load ({type(error).__name__}: {error}); fix or uninstall it, "
                         f"or disable it in the config: {disable}")
        self.name = name


def _name_the_failure(pm: pluggy.PluginManager) -> None:
    """After a failed load: load the plugins not loaded yet one at a time, and raise
    PluginLoadError naming the first that fails (only on this path: one pass is the fast one)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(entry.name) is not None or pm.is_blocked(entry.name):
            continue
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry.name)
        except Exception as exc:
            raise PluginLoadError(entry.name, exc) from exc


async def await_maybe(value: Any) -> Any:
    """Await ``value`` if a hook returned an awaitable, else return it (collected hooks may be async)."""
    if inspect.isawaitable(value):
        return await value
    return value


def flatten(results: Iterable[Any]) -> list[Any]:
    """The items of hook results that each may be None, one item, or a list of them."""
    items: list[Any] = []
    for result in results:
        if result is None:
            continue
        if isinstance(result, (list, tuple)):
            items.extend(result)
        else:
            items.append(result)
    return items


def config_sections(pm: pluggy.PluginManager) -> list[ConfigSection]:
    """Every ConfigSection the plugins register."""
    return flatten(pm.hook.register_config())


def sources(pm: pluggy.PluginManager) -> list[Source]:
    """Every webhook Source the plugins serve, refusing two plugins that claim one name."""
    found: dict[str, Source] = {}
    for source in flatten(pm.hook.register_sources()):
        if source.name in found:
            raise ValueError(f"two plugins register the webhook source {source.name!r}")
        found[source.name] = source
    return list(found.values())


@dataclass(frozen=True)
class PluginInfo:
    """What ``hub plugins`` shows for one loaded plugin."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


def plugin_infos(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Describe the loaded plugins: name, distribution and version, implemented hooks."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.project_name if dist else "(registered directly)",
                version=dist.version if dist else "-",
                hooks=hooks,
            )
        )
    return sorted(infos, key=lambda info: info.name)
