"""GitHub plugin hooks."""
