"""The dispatch + case backend: phones hand in button frames, the CIC sees alarms.

Start with `msa.backend.app.create_app(database_url, kek=kek)` or `msa backend serve`;
docs/backend.md describes the API, the schema and the decisions.
"""
