"""Storage: SQLAlchemy models, the repository the handlers call, and Alembic migrations."""
