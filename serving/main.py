"""Entry point of the ranker deployable: load and validate the settings, serve until a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging

from serving.config import ServingSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybridrec-serve", description="gRPC ranker (settings: env/TOML)")
    parser.add_argument("--port", type=int, help="override serving.port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    return run(args.port, args.log_level)


def run(port: int | None, log_level: str) -> int:
    from serving.server import serve

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServingSettings()
    if port is not None:
        settings = settings.model_copy(update={"serving": settings.serving.model_copy(update={"port": port})})
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
