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

__all__ = [
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
