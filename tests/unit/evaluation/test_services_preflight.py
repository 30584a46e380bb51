"""A replay or the demo started without the local services says what to run, instead of a Kafka traceback."""

from __future__ import annotations

import socket

import pytest

from evaluation import services
from hybridrec.config import Settings


def _dead_port() -> int:
    with socket.socket() as s:  # bound, never listening: a connection is refused at once
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_kafka_and_redis_are_named_with_what_to_run() -> None:
    kafka, redis = _dead_port(), _dead_port()
    settings = Settings(kafka={"bootstrap_servers": f"127.0.0.1:{kafka}"}, redis={"host": "127.0.0.1", "port": redis})
    with pytest.raises(services.ServiceFailed) as got:
        services.require_running(settings)
    msg = str(got.value)
    assert f"Kafka at 127.0.0.1:{kafka}" in msg and f"Redis at 127.0.0.1:{redis}" in msg and "make up" in msg


def test_listening_services_pass() -> None:
    with socket.socket() as kafka, socket.socket() as redis:
        for s in (kafka, redis):
            s.bind(("127.0.0.1", 0))
            s.listen()
        settings = Settings(
            kafka={"bootstrap_servers": f"127.0.0.1:{kafka.getsockname()[1]}"},
            redis={"host": "127.0.0.1", "port": redis.getsockname()[1]},
        )
        services.require_running(settings)
