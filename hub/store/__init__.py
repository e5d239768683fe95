"""The hub's storage: one definition of every write, run on PostgreSQL or SQLite.

- ``hub.store.tables``: the tables' shapes (from ``hub.models``) and value conversion.
- ``hub.store.sql``: statements, generated from the tables once per dialect.
- ``hub.store.writes``: the rows each write makes and its transaction, written once.
- ``hub.store.postgres`` / ``hub.store.sqlite``: the drivers that run them.
- ``hub.store.store``: ``Store``, the calls the pipeline and the API make.
"""

from hub.store.reads import load_issue_with_link
from hub.store.store import RecentLinks, Store, open_store
from hub.store.tables import COMMENTS, DELIVERIES, ISSUE_LABELS, ISSUES, JOBS, LABELS, LINKS, NUMBERS, LinkedIssue, \
    issue_view, link_view, storable

__all__ = ["COMMENTS", "DELIVERIES", "ISSUES", "ISSUE_LABELS", "JOBS", "LABELS", "LINKS", "LinkedIssue", "NUMBERS",
           "RecentLinks", "Store", "issue_view", "link_view", "load_issue_with_link", "open_store", "storable"]
