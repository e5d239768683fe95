"""The webhook-ingest benchmark: the hub against a raw baseline, in one run (``python -m bench``).

Modules: ``__main__`` (the command), ``runner`` (contenders and rounds), ``load`` (the load
generator, a separate process), ``payloads`` (signed Sentry deliveries), ``baseline`` (the minimal
ASGI app), ``servers`` (starting, measuring and stopping server processes), ``databases``
(the throwaway PostgreSQL database and SQLite files), ``fake_github`` (a slow GitHub API),
``profile`` (py-spy summaries), ``burst`` (``--burst``: a deploy's new issues timed until
enriched) and ``report`` (the tables and the JSON file).
"""
