"""How Sentry shows a hub issue linked to one of its issues: ``<project>#<identifier>``.

Sentry builds the external issue's display name from the ``project`` and ``identifier`` an
integration gives it (``ExternalIssueCreator``: ``f"{project}#{identifier}"``, one per Sentry issue
and integration, replaced when given again). The Issue Link's answer and the sink's link both
name the hub issue this one way, so the sidebar reads ``CHIPP#12`` whichever made it.
"""

from __future__ import annotations

__all__ = ["shown_in_sentry"]


def shown_in_sentry(identifier: str) -> tuple[str, str]:
    """``(project, identifier)`` for Sentry: ``CHIPP-12`` is ``("CHIPP", "12")``."""
    prefix, _, number = identifier.rpartition("-")
    return (prefix, number) if prefix and number else ("hub", identifier)
