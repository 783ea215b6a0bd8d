"""Storage edge: SQLAlchemy Core tables, engines and the stores domain code talks to.

SQLite (embedded default) and PostgreSQL (production) share one schema; dialect differences
stay inside this package.
"""
