"""Connection parameters: what the operator's DATABASE_URL says wins over our defaults."""

from __future__ import annotations

from monitor.storage.gateway import open_gateway


async def test_the_urls_own_parameters_and_options_are_kept(database_url: str) -> None:
    url = f"{database_url}?application_name=mine&options=-c%20work_mem%3D7MB"
    async with open_gateway(
        url, pool_size=1, statement_timeout=12, acquire_timeout=5, connect_timeout=5
    ) as gateway:

        def settings(connection: object) -> tuple[str, ...]:
            names = ("application_name", "work_mem", "statement_timeout", "TimeZone")
            return tuple(
                connection.execute(f"show {name}").fetchone()[0]  # type: ignore[attr-defined]
                for name in names
            )

        assert await gateway.run(settings) == ("mine", "7MB", "12s", "UTC")
