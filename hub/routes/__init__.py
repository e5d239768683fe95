"""HTTP routes: one webhook pair per source plugin, the issues API and health."""

from hub.routes.health import health
from hub.routes.issues import get_issue, list_issues
from hub.routes.webhooks import webhook_handlers

__all__ = ["get_issue", "health", "list_issues", "webhook_handlers"]
