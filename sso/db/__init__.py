"""The database: SQLAlchemy 2 models, engine and sessions, column types that behave the same on
SQLite and PostgreSQL. Only Alembic migrations create the schema."""
