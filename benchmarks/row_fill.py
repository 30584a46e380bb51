"""How full the served rows are: every seeded user's homepage (and ``GetRow(POPULAR)``) on the real batch run's
model and the users' real features, as ``serving_load.py --cpu`` builds them; the rows shorter than asked, by
kind. A heavy user who has seen the head of a list (popularity, a genre, a title's neighbours) is where rows
ran short.

    .venv/bin/python benchmarks/row_fill.py --dataset ml-100k     # needs `make up` (Redis), builds the model once
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_load


def main() -> int:
    args = serving_load.parser().parse_args()
    settings, _, users = serving_load.prepare(args)
    world = serving_load.cpu_world(args, settings, users, 0)

    from serving.domain import Context, HomepageQuery, RowKind

    async def run() -> dict:
        now = int(time.time() * 1000)
        short: Counter[str] = Counter()
        rows: Counter[str] = Counter()
        missing = Counter()
        slots = 0
        people = sorted(set(users))
        for u in people:
            ctx = Context("TV", "DE", now)
            page = await world.engine.homepage(HomepageQuery(u, ctx, args.rows, args.items_per_row, True, u, 10.0))
            for r in page.rows:
                rows[r.kind.value] += 1
                slots += len(r.items)
                short[r.kind.value] += len(r.items) < args.items_per_row
            only = HomepageQuery(u, ctx, 1, args.items_per_row, True, "p" + u, 10.0, only=RowKind.POPULAR)
            missing.update(d for d in (await world.engine.homepage(only)).degraded if d.startswith("row:"))
        return {
            "dataset": args.dataset,
            "users": len(people),
            "rows": dict(rows),
            "short_rows": {k: v for k, v in short.items() if v},
            "slots_per_page": round(slots / len(people), 2),
            "asked_per_page": args.rows * args.items_per_row,
            "get_row_popular_degraded": dict(missing),
        }

    print(json.dumps(asyncio.run(run())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
