"""A webhook delivery as the pipeline carries it, and every answer the hub gives one.

Answers are built here, in Python, and nowhere else: the body sent to the source is the body
the delivery log keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hub.types import Decision, IssueView, Source

__all__ = ["Answer", "ReceivedDelivery", "created_answer", "duplicate_answer", "error_answer", "skipped_answer",
           "updated_answer"]


@dataclass
class ReceivedDelivery:
    """One delivery, from the route to its answer: what arrived, and what the hooks made of it.

    Hooks after ``accept_webhook`` receive it as ``delivery`` (``from hub import ReceivedDelivery``):
    ``headers`` (lower-case names), ``payload``, ``decision`` and ``parsed``. Read it, never change it.
    """

    source: Source
    headers: Mapping[str, str]
    body: bytes
    #: The source's id for this delivery (a replay of it is answered with the first answer).
    request_id: str | None = None
    #: Headers fit to keep in the delivery log.
    stored_headers: Mapping[str, str] = field(default_factory=dict)
    payload: Any = None
    decision: Decision | None = None
    #: SHA-256 of the body, for sources whose deliveries are unique by body (Source.unique_bodies).
    body_sha256: str | None = None

    @property
    def parsed(self) -> Any:
        """What the source plugin's ``accept_webhook`` read the payload as (``Decision.parsed``)."""
        return self.decision.parsed if self.decision is not None else None

    @property
    def event(self) -> str:
        """How log lines and the delivery log name it (the decision's summary)."""
        return self.decision.summary if self.decision is not None else ""


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a delivery: status code and JSON body, the outcome the log records,
    and the changes it applied."""

    status: int
    body: dict[str, Any]
    outcome: str
    changes: list[dict[str, Any]] = field(default_factory=list)


def error_answer(status: int, outcome: str, message: str) -> Answer:
    """A refused delivery (4xx): nothing of it applied; the delivery log keeps its reason."""
    return Answer(status, {"success": False, "error": message}, outcome)


def skipped_answer(reason: str) -> Answer:
    """A delivery answered 200 and otherwise ignored."""
    return Answer(200, {"success": True, "skipped": True, "reason": reason}, "skipped")


def _issue(issue: IssueView) -> dict[str, str]:
    return {"id": issue.id, "identifier": issue.identifier}


def created_answer(issue: IssueView, response: Mapping[str, Any]) -> Answer:
    """The answer to a delivery that created ``issue``."""
    return Answer(200, {"success": True, "issue": _issue(issue), **response}, "created")


def _changed(body: dict[str, Any], applied: list[dict[str, Any]], ignored: list[dict[str, Any]]) -> Answer:
    if applied:
        body["changes"] = applied
    if ignored:
        body["ignored"] = ignored
    return Answer(200, body, "updated" if applied else "stale" if ignored else "deduplicated", applied)


def duplicate_answer(issue: IssueView, response: Mapping[str, Any], applied: list[dict[str, Any]],
                     ignored: list[dict[str, Any]] = ()) -> Answer:
    """The answer to a ``create`` delivery whose record is already tracked as ``issue``."""
    return _changed({"success": True, "deduplicated": True, "issue": _issue(issue), **response,
                     "message": f"Issue already tracked as {issue.identifier}"}, applied, list(ignored))


def updated_answer(issue: IssueView, response: Mapping[str, Any], applied: list[dict[str, Any]],
                   ignored: list[dict[str, Any]] = ()) -> Answer:
    """The answer to an ``update`` delivery for ``issue`` (``ignored``: changes older than its state)."""
    return _changed({"success": True, "updated": True, "issue": _issue(issue), **response}, applied, list(ignored))
