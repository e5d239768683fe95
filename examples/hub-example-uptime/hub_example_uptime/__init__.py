"""hub-example-uptime: the plugin docs/plugins.md walks through (outside the workspace on purpose)."""
