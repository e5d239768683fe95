"""Sentry plugin hooks."""
