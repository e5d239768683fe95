"""hub: a plugin-based integration hub. Plugins import their markers and value types from here."""

import pluggy

from hub.types import (
    Change,
    ConfigSection,
    Decision,
    ExternalLinkDraft,
    GiveUp,
    IssueDraft,
    IssueView,
    LabelDraft,
    LinkView,
    RetryLater,
    Section,
    Sink,
    Source,
    Unavailable,
    Verdict,
)

#: Plugins mark their hook implementations with this (``from hub import hookimpl``).
hookimpl = pluggy.HookimplMarker("hub")

#: Everything else a plugin may need, loaded on first use: importing ``hub`` stays cheap and
#: free of import cycles (hub.cache needs the tables, hub.config the plugin manager's types).
_LAZY = {
    "Cache": "hub.cache",
    "MemoryCache": "hub.cache",
    "Settings": "hub.config",
    "ReceivedDelivery": "hub.delivery",
    "clean_text": "hub.formatting",
    "code_span": "hub.formatting",
    "escape_markdown": "hub.formatting",
    "format_datetime": "hub.formatting",
    "parse_datetime": "hub.formatting",
    "safe_url": "hub.formatting",
}


def __getattr__(name: str):
    """``from hub import Settings`` (and the rest of ``_LAZY``) imports its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    *sorted(_LAZY),
    "Change",
    "ConfigSection",
    "Decision",
    "ExternalLinkDraft",
    "GiveUp",
    "IssueDraft",
    "IssueView",
    "LabelDraft",
    "LinkView",
    "RetryLater",
    "Section",
    "Sink",
    "Source",
    "Unavailable",
    "Verdict",
    "hookimpl",
]
