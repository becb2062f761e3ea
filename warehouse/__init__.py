"""Shared plumbing for the warehouse: where PostgreSQL is, project paths, the `python -m warehouse` CLI."""
