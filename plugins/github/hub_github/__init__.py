"""hub-github: correlate new errors with the GitHub commits and deployments that preceded them.

The hooks live in :mod:`hub_github.plugin`; see docs/github.md.
"""
