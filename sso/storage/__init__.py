"""Repositories: the only modules that build SQL. One module per aggregate; single-use things
are consumed atomically (``UPDATE … WHERE consumed_at IS NULL`` and a row count check)."""
