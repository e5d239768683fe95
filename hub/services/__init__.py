"""What the API and the console both call: one query layer, two faces (docs/architecture.md)."""
