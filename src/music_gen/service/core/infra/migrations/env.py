"""Alembic environment: runs migrations on the connection ``open_database`` hands over.

The same environment runs the core's history and each vendor adapter's (``db.Migrations``):
``version_table`` (an attribute of the config) says whose history this run records.
"""

from alembic import context

from music_gen.service.core.infra.db import Base

target_metadata = Base.metadata
version_table = context.config.attributes.get("version_table", "alembic_version")
connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand with sqlalchemy.url set
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(
            connection=conn, target_metadata=target_metadata, version_table=version_table
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
