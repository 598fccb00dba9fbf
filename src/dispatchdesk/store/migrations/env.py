"""Alembic environment: runs on the connection that Database.migrate() hands over."""

from alembic import context

from dispatchdesk.store.models import Base, include_name

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # `alembic` run by hand: use the URL from the config
        from sqlalchemy import create_engine

        engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        include_name=include_name,  # the FTS text index's tables are not models
    )
    with context.begin_transaction():
        context.run_migrations()


run()
