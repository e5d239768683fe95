"""hub: a plugin-based integration hub. Plugins import their markers and value types from here."""

#: Everything a plugin may need, loaded on first use: importing ``hub`` costs nothing (the ``hub``
#: command prints its help without pydantic, pluggy or even dataclasses) and makes no import
#: cycles (hub.cache needs the tables, hub.config the plugin manager's types). Any other public
#: name comes from hub.types (the values plugins and host hand each other); ``hookimpl``, the
#: marker plugins put on their hook implementations, is made on first use.
_LAZY = {
    "Cache": "hub.cache",
    "EndpointContext": "hub.context",
    "MemoryCache": "hub.cache",
    "Settings": "hub.config",
    "ReceivedDelivery": "hub.delivery",
    "Pipeline": "hub.pipeline",
    "clean_text": "hub.formatting",
    "code_span": "hub.formatting",
    "escape_markdown": "hub.formatting",
    "format_datetime": "hub.formatting",
    "parse_datetime": "hub.formatting",
    "parse_age": "hub.sync",
    "progress_bar": "hub.sync",
    "safe_url": "hub.formatting",
}


def __getattr__(name: str):
    """``from hub import Settings`` (``hookimpl``, hub.types' values, the rest of ``_LAZY``) on first use."""
    import importlib

    if name == "hookimpl":
        import pluggy

        value = pluggy.HookimplMarker("hub")
    elif name == "__all__":
        value = sorted([*_LAZY, *importlib.import_module("hub.types").__all__, "hookimpl"])
    elif name in _LAZY or (not name.startswith("_") and name in importlib.import_module("hub.types").__all__):
        value = getattr(importlib.import_module(_LAZY.get(name, "hub.types")), name)
    else:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    globals()[name] = value
    return value
