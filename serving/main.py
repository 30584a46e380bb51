"""Entry point of the ranker deployable: load and validate the settings, serve until a signal.

With more than one worker (``serving.workers``; 0, the default, is one per core but one) the parent starts
that many server processes on the same port (SO_REUSEPORT; the kernel spreads connections), each with its own
model copy and metrics port ``metrics_port + i``: one Python event loop uses one core, and the pipeline is
CPU-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import signal
from typing import Any

from hybridrec.config import with_section
from serving.config import ServingSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybridrec-serve", description="gRPC ranker (settings: env/TOML)")
    parser.add_argument("--port", type=int, help="override serving.port")
    parser.add_argument("--workers", type=int, help="override serving.workers (0 = cores - 1)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    return run(args.port, args.log_level, args.workers)


def _settings(overrides: dict[str, Any]) -> ServingSettings:
    settings = ServingSettings()
    if overrides:
        settings = with_section(settings, "serving", **overrides)
    return settings


def _worker(overrides: dict[str, Any], index: int, log_level: str) -> None:
    from serving.loop import new_loop
    from serving.server import serve

    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s w{index} %(name)s: %(message)s")
    settings = _settings(overrides)
    metrics = settings.serving.metrics_port
    if metrics:
        settings = _settings({**overrides, "metrics_port": metrics + index})
    with asyncio.Runner(loop_factory=new_loop) as runner:  # a loop with an idle clock (serving/loop.py)
        runner.run(serve(settings))


def run(port: int | None, log_level: str, workers: int | None = None) -> int:
    overrides: dict[str, Any] = {k: v for k, v in (("port", port), ("workers", workers)) if v is not None}
    settings = _settings(overrides)  # validated once here, so a bad setting fails before any process starts
    n = settings.serving.worker_count
    if n == 1:
        _worker(overrides, 0, log_level)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(overrides, i, log_level), name=f"ranker-{i}") for i in range(n)]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                p.terminate()  # SIGTERM: each worker stops gracefully

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)


if __name__ == "__main__":
    raise SystemExit(main())
