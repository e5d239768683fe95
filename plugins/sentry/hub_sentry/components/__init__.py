"""Sentry's UI components for the hub: Issue Link, Alert Rule Action, Stack Trace Link, and their schema."""
