"""What a later notification of an alert does to its issue: resolve, fire again, or nothing."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hub import Change, IssueView

from hub_alertmanager.issue import when
from hub_alertmanager.payload import Alert

__all__ = ["alert_changes"]


def alert_changes(alert: Alert, issue: IssueView, tz: ZoneInfo) -> list[Change]:
    """``resolved`` closes with a comment; ``firing`` on a closed issue reopens it with a comment.

    Alertmanager repeats notifications (``repeat_interval``), so every change is idempotent: the
    comment's key names the firing it belongs to (its start time), and ``at`` orders the states,
    so a late ``resolved`` of an earlier firing cannot close the issue again.
    """
    started = alert.starts_at.isoformat() if alert.starts_at else "unknown"
    if alert.status == "resolved":
        return [Change("close", at=alert.ends_at),
                Change("comment", text=f"Resolved in Alertmanager at {when(alert.ends_at, tz)}.",
                       key=f"alertmanager:resolved:{alert.fingerprint}:{started}")]
    if issue.status == "open":
        # A repeat notification: nothing changed. (The reopen below would be a no-op too, but
        # it is not even asked for.)
        return []
    return [Change("reopen", at=alert.starts_at),
            Change("comment", text=f"Firing again in Alertmanager since {when(alert.starts_at, tz)}.",
                   key=f"alertmanager:firing:{alert.fingerprint}:{started}")]
