"""CPU per page of two revisions of the serving code, alternated in lockstep on the same pages, and whether they
serve the same pages: the A/B a CPU change needs on a shared machine whose speed moves ±15-50 % within minutes.

    .venv/bin/python benchmarks/cpu_ab.py --base <rev> [--dataset ml-100k] [--pages 4000] [--chunk 50]

Two worker processes build ``benchmarks/serving_load.py --cpu``'s world (the real batch run's model, the users' real
features read once from Redis, the same seeded queries): *base* imports ``serving`` and ``hybridrec`` from a detached
git worktree of ``<rev>`` (kept under ``.run/ab/``), *head* from this checkout; generated protobuf code comes from
this checkout (``make proto``), so the two revisions must share the engine's constructor and the proto. Each round
runs the next ``--chunk`` pages on both sides, one after the other, in turn first (ABBA), each timed by its worker's
own thread CPU; both sides meet the same machine within a second. Printed: each side's CPU ms per page, the ratio
head / base (the median of the rounds' ratios and their quartiles) and whether every page was identical (rows, items,
reasons, flags, and how far the scores of identical pages drift: a speed-up must not change what users see).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import serving_load  # noqa: E402  (stdlib imports only: ``serving`` is imported later, from the chosen root)


def page_digest(pages: list) -> tuple[str, list[float]]:
    """One hash of what these pages show (row kinds and titles, every slot's item, reason and flags) and their
    scores in order: the scores are compared with a tolerance, since a forward pass over a different batch of
    candidates rounds float32 differently in the last bit."""
    h = hashlib.blake2b(digest_size=16)
    scores: list[float] = []
    for page in pages:
        h.update(repr((page.degraded, page.personalized)).encode())
        for row in page.rows:
            h.update(repr((row.kind.value, row.title)).encode())
            for s in row.items:
                h.update(repr((s.item_id, s.reason, s.explored, round(s.propensity, 9))).encode())
                scores.append(s.score)
    return h.hexdigest(), scores


def worker(args: argparse.Namespace) -> int:
    """Serve chunks of pages on stdin's request ("<n>" per line; "quit"): a JSON line of thread CPU and digest."""
    sys.path.insert(0, str(Path(args.root).resolve()))  # before anything imports serving or hybridrec
    settings, _, _ = serving_load.prepare(args, seed=False)
    users = json.loads(Path(args.users_file).read_text())
    world = serving_load.cpu_world(args, settings, users, args.pages, args.now_ms)
    from serving.model.watcher import settle_heap

    loop = asyncio.new_event_loop()
    loop.run_until_complete(serving_load.run_pages(world.engine, world.queries[:100]))  # warm-up
    settle_heap()
    print(json.dumps({"ready": True, "root": str(Path(sys.modules["serving"].__file__).parent.parent)}), flush=True)
    at = 0
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        qs = world.queries[at : at + int(line)]
        at += len(qs)
        t0 = time.thread_time()
        pages = loop.run_until_complete(serving_load.run_pages(world.engine, qs))
        cpu = time.thread_time() - t0
        digest, scores = page_digest(pages)
        print(json.dumps({"cpu_s": cpu, "pages": len(pages), "digest": digest, "scores": scores}), flush=True)
    return 0


def base_tree(rev: str) -> Path:
    """A detached worktree of ``rev`` under .run/ab/ (made once per commit)."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    tree = ROOT / ".run" / "ab" / sha[:12]
    if not (tree / "serving").is_dir():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True)
    return tree


def ask(proc: subprocess.Popen, n: int) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    return _reply(proc.stdout)


def _reply(out: IO[str]) -> dict:
    line = out.readline()
    if not line:
        raise SystemExit("a worker died; its error is above")
    return json.loads(line)


def lead(args: argparse.Namespace, passthrough: list[str]) -> int:
    _, environ, users = serving_load.prepare(args)
    users_file = Path(tempfile.mkstemp(prefix="cpu_ab_users_", suffix=".json")[1])
    users_file.write_text(json.dumps(users))
    roots = {"base": base_tree(args.base), "head": ROOT}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--users-file", str(users_file)]
    cmd += ["--now-ms", str(int(time.time() * 1000))]  # both sides ask at the same time
    procs = {
        side: subprocess.Popen(
            [*cmd, "--root", str(root), "--pages", str(args.pages), *passthrough],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environ,
            cwd=root,
        )
        for side, root in roots.items()
    }
    try:
        for side, proc in procs.items():
            assert proc.stdout is not None
            print(f"{side}: serving code from {_reply(proc.stdout)['root']}", file=sys.stderr)
        cpu = {"base": [], "head": []}
        differ, score_gap = 0, 0.0
        rounds = args.pages // args.chunk
        for k in range(rounds):
            order = ["base", "head"] if k % 4 in (0, 3) else ["head", "base"]  # ABBA
            got = {side: ask(procs[side], args.chunk) for side in order}
            for side in cpu:
                cpu[side].append(got[side]["cpu_s"] / got[side]["pages"] * 1000)
            if got["base"]["digest"] != got["head"]["digest"]:
                differ += 1
            else:
                pairs = zip(got["base"]["scores"], got["head"]["scores"], strict=True)
                score_gap = max([score_gap, *(abs(a - b) for a, b in pairs)])
            if (k + 1) % max(1, rounds // 10) == 0:
                print(f"  round {k + 1}/{rounds}", file=sys.stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.write("quit\n")
                proc.stdin.close()
                proc.wait(30)
        users_file.unlink(missing_ok=True)
    ratios = [h / b for h, b in zip(cpu["head"], cpu["base"], strict=True)]
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "base": args.base,
                "pages": rounds * args.chunk,
                "chunk": args.chunk,
                "base_cpu_ms_per_page": round(statistics.fmean(cpu["base"]), 3),
                "head_cpu_ms_per_page": round(statistics.fmean(cpu["head"]), 3),
                "ratio_head_base_median": round(med, 3),
                "ratio_quartiles": [round(q1, 3), round(q3, 3)],
                "chunks_with_different_pages": differ,
                "max_score_difference_of_same_pages": score_gap,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


def main() -> int:
    p = serving_load.parser()
    p.description = __doc__
    p.add_argument("--base", help="the revision to compare this checkout with (a commit, tag or branch)")
    p.add_argument("--pages", type=int, default=4000, help="pages per side")
    p.add_argument("--chunk", type=int, default=50, help="pages per side per round")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--users-file", help=argparse.SUPPRESS)
    p.add_argument("--now-ms", type=int, help=argparse.SUPPRESS)
    args, _ = p.parse_known_args()
    if args.worker:
        return worker(args)
    if not args.base:
        p.error("--base is required")
    passthrough = [f"--dataset={args.dataset}", f"--rows={args.rows}", f"--items-per-row={args.items_per_row}"]
    passthrough += [f"--data-dir={serving_load.data_dir_of(args)}"] + ([f"--path={args.path}"] if args.path else [])
    return lead(args, passthrough)


if __name__ == "__main__":
    raise SystemExit(main())
