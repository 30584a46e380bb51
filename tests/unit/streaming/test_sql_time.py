"""Window bounds become epoch milliseconds in SQL (``sql.epoch_ms``): checked in Flink itself, because the
meaning of EXTRACT(MILLISECOND) (the fraction of the second only) once cost every live snapshot its seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streaming import sql

TIMES = ["1970-01-01 00:00:00.000", "2026-11-23 20:13:12.345", "2026-11-23 20:13:59.999",
         "2038-01-19 03:14:08.001", "2100-06-30 23:59:01.500"]


def expected_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000 + 0.5)


@pytest.mark.timeout(300)
def test_epoch_ms_keeps_seconds_and_milliseconds_past_2038() -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    rows = ", ".join(f"(TIMESTAMP '{t}')" for t in TIMES)
    query = f"SELECT {sql.epoch_ms('ts')} FROM (VALUES {rows}) AS v(ts)"
    with t_env.execute_sql(query).collect() as result:
        got = [row[0] for row in result]
    assert got == [expected_ms(t) for t in TIMES]
