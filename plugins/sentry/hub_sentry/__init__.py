"""hub-sentry."""
