"""``hybridrec``: the command line of the shared package (topics, datasets, replay).

Deployables add their own sub-commands through the ``hybridrec.commands`` entry-point group (a module with
``register(subparsers)``), so this package never imports streaming, batch or serving.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points

from hybridrec.config import Settings, get_settings
from hybridrec.errors import UserError


class CliError(UserError, RuntimeError):
    """A user-facing failure of a command: printed as one line, exit code 2."""


def _rate(text: str) -> float | None:
    if text == "max":
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("rate must be > 0 events/s, or 'max'")
    return value


# --- topics --------------------------------------------------------------------------------------------


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    from hybridrec.kafka import topics

    if args.action == "create":
        for name, what in topics.ensure_topics(settings.kafka).items():
            print(f"{name}: {what}")
    elif args.action == "list":
        md = topics.admin_client(settings.kafka).list_topics(timeout=10)
        for name in sorted(t for t in md.topics if not t.startswith("__")):
            print(f"{name}\t{len(md.topics[name].partitions)} partitions")
    else:
        topics.delete_topics(settings.kafka, [s.name for s in topics.topic_specs(settings.kafka)])
        print("deleted; run `hybridrec topics create`")
    return 0


# --- datasets ------------------------------------------------------------------------------------------


def cmd_download(args: argparse.Namespace, settings: Settings) -> int:
    from hybridrec.datasets.download import download

    print(download(args.name, settings.paths.downloads_dir, settings))
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when everything was acknowledged; on SIGINT/SIGTERM stop between batches, wait for the queued records'
    verdicts, print the summary and exit 128 + signal; 1 when records failed or reading the data failed."""
    from tqdm import tqdm

    from hybridrec import catalog
    from hybridrec.datasets import load_dataset
    from hybridrec.kafka.producer import EventProducer
    from hybridrec.kafka.topics import ensure_topics
    from hybridrec.replay import ReplayIncomplete, ReplaySummary, batch_size_for, replay
    from hybridrec.stop import StopSignals

    dataset = load_dataset(
        args.dataset,
        args.path,
        settings,
        n_events=args.events,
        seed=args.seed,
        download_missing=True,
        fallback_synthetic=args.fallback_synthetic,
    )
    print(f"dataset: {dataset.description}", file=sys.stderr)
    ensure_topics(settings.kafka)
    with StopSignals() as stop:
        try:
            n_items = (
                0
                if args.no_catalog
                else catalog.publish(dataset.items(), settings.kafka, settings.paths.lake_dir, stop=stop)
            )
        except catalog.CatalogNotPublished as exc:
            print(f"error: {exc}", file=sys.stderr)
            return stop.exit_code or 1
        producer = EventProducer(settings.kafka, settings.validation, component="replay")
        total = dataset.count_hint if args.limit is None else min(args.limit, dataset.count_hint or args.limit)
        summary: ReplaySummary
        with tqdm(total=total, unit="ev", unit_scale=True, disable=args.quiet, file=sys.stderr, mininterval=0.5) as bar:
            try:
                summary = replay(
                    dataset.batches(batch_size_for(args.rate)),
                    producer,
                    dataset=dataset.name,
                    rate=args.rate,
                    limit=args.limit,
                    on_progress=bar.update,
                    stop=stop,
                )
            except ReplayIncomplete as exc:
                summary = exc.summary
    summary.catalog_items = n_items
    print(json.dumps(summary.as_dict()) if args.json else summary.render(), flush=True)
    if stop.received is not None:
        return stop.exit_code
    return 0 if summary.complete else 1


# --- wiring --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybridrec", description="hybridrec platform command line")
    sub = parser.add_subparsers(dest="command", required=True)

    topics = sub.add_parser("topics", help="create, list or delete the project's Kafka topics")
    topics.add_argument("action", choices=["create", "list", "delete"])
    topics.set_defaults(func=cmd_topics)

    dl = sub.add_parser("download", help="download a MovieLens dataset from GroupLens")
    dl.add_argument("name", choices=["ml-100k", "ml-latest-small", "ml-1m", "ml-20m", "ml-25m"])
    dl.set_defaults(func=cmd_download)

    rp = sub.add_parser("replay", help="stream a dataset into Kafka in event-time order")
    rp.add_argument(
        "--dataset", required=True, choices=["ml-100k", "ml-latest-small", "ml-1m", "ml-20m", "ml-25m", "synthetic"]
    )
    rp.add_argument("--path", help="directory holding the dataset files (default: datasets dir or download)")
    rp.add_argument("--rate", type=_rate, default=None, help="events per second, or 'max' (default)")
    rp.add_argument("--limit", type=int, help="stop after this many events")
    rp.add_argument("--events", type=int, help="synthetic: number of events (default 1,000,000)")
    rp.add_argument("--seed", type=int, help="synthetic: seed (default from config)")
    rp.add_argument(
        "--fallback-synthetic",
        action="store_true",
        help="use synthetic data when the dataset can be neither found nor downloaded",
    )
    rp.add_argument("--no-catalog", action="store_true", help="do not publish the item catalog first")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    rp.set_defaults(func=cmd_replay)

    for ep in entry_points(group="hybridrec.commands"):
        ep.load().register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        return int(args.func(args, settings) or 0)
    except UserError as exc:  # CliError, DatasetNotFound, DownloadFailed: the message says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
