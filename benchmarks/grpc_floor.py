"""The gRPC floor: server CPU per call of a trivial GetHomepage handler (a prebuilt 5 × 20 page, serialized per
call) under ghz, one server flavour at a time: the ranker's grpc.aio server (on its idle-clock selector loop),
the same with ``grpc.optimization_target=throughput``, grpc.aio on uvloop, and the sync ``grpc.server`` with a
thread pool of N threads (``sync-N``). Whatever the ranker's own code costs comes on
top of this floor; this says which server is cheapest before any engine work.

    .venv/bin/python benchmarks/grpc_floor.py [--servers aio,aio-throughput,aio-uvloop,sync-4]
        [--rates 300,600] [--duration 10] [--connections 8] [--repeat 2]

Each server runs in its own process (``--serve FLAVOUR``); per run it prints the calls, ghz's p50/p99, the
server's CPU ms per call (/proc, all its threads) and ghz's own CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serving_load import run_ghz, tree_cpu_s  # noqa: E402


def page() -> object:
    """A response of the benchmark's page shape (5 rows × 20 items), as the servicer builds it."""
    from serving.domain import Page, Row, RowKind, Slot
    from serving.servicer import homepage_response

    rows = [
        Row(
            f"r{r}",
            RowKind.FOR_YOU,
            f"Row {r}",
            "for you",
            [Slot(str(1000 + i), 0.5, "for you", False, 0.93) for i in range(20)],
        )
        for r in range(5)
    ]
    return homepage_response(Page("req", rows, "v20261202T122901-f8026b", "control", [], True))


def serve(flavour: str, port: int) -> None:
    """One server of ``flavour`` on ``port`` until SIGTERM."""
    import grpc

    from hybridrec_pb import ranker_pb2_grpc
    from serving.model.watcher import settle_heap

    resp = page()
    settle_heap()  # as the ranker does after loading: the import-sized heap out of the cyclic GC's reach

    if flavour.startswith("sync"):

        class SyncServicer(ranker_pb2_grpc.RankerServicer):
            def GetHomepage(self, request, context):
                context.time_remaining()
                return resp

        threads = int(flavour.partition("-")[2] or 4)
        server = grpc.server(ThreadPoolExecutor(max_workers=threads))
        ranker_pb2_grpc.add_RankerServicer_to_server(SyncServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        server.wait_for_termination()
        return

    class AioServicer(ranker_pb2_grpc.RankerServicer):
        async def GetHomepage(self, request, context):
            context.time_remaining()
            return resp

    async def main() -> None:
        # aio-throughput: gRPC core's hint to favour throughput over latency (batching of writes and polls)
        options = [("grpc.optimization_target", "throughput")] if flavour == "aio-throughput" else []
        server = grpc.aio.server(options=options)
        ranker_pb2_grpc.add_RankerServicer_to_server(AioServicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    if flavour == "aio-uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        from serving.loop import new_loop

        factory = new_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def protoset_of(out: Path) -> tuple[str, ...]:
    """ghz's options for a descriptor set of ranker.proto: the same request for every flavour, no reflection (the
    sync server would need its own v1 reflection; the floor is about the calls, not the lookup)."""
    from grpc_tools import protoc

    protos = ROOT / "protos"
    if protoc.main(
        [
            "protoc",
            f"-I{protos}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            str(protos / "hybridrec_pb" / "ranker.proto"),
        ]
    ):
        raise RuntimeError("protoc failed on ranker.proto")
    return ("--protoset", str(out))


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=int(os.environ.get("GRPC_FLOOR_PORT", "53061")))
    p.add_argument("--servers", default="aio,aio-uvloop,sync-4", type=lambda s: s.split(","))
    p.add_argument("--rates", default="300,600", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--deadline-ms", type=float, default=250.0)
    p.add_argument("--repeat", type=int, default=1, help="alternate the servers this many times")
    p.add_argument("--ghz", type=Path, default=ROOT / ".deps" / "bin" / "ghz", help="ghz binary (make ghz)")
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="grpc-floor-"))
    data = tmp / "requests.json"
    data.write_text(json.dumps([{"user_id": "1", "n_rows": 5, "items_per_row": 20}]))
    protoset = protoset_of(tmp / "ranker.protoset")
    rows = []
    for _ in range(args.repeat):
        for flavour in args.servers:
            cmd = [sys.executable, __file__, "--serve", flavour, "--port", str(args.port)]
            server = subprocess.Popen(cmd, cwd=ROOT)
            try:
                wait_port(args.port)
                run_ghz(args, args.port, data, 100, 2, protoset)  # warm-up, not reported
                for rate in args.rates:
                    load, cpu0 = os.getloadavg()[0], tree_cpu_s(server.pid)
                    report = run_ghz(args, args.port, data, rate, args.duration, protoset)
                    cpu = tree_cpu_s(server.pid) - cpu0
                    n = int(report.get("count", 0))
                    pct = {
                        f"p{int(x['percentage'])}": x["latency"] / 1e6 for x in report.get("latencyDistribution") or []
                    }
                    row = {
                        "server": flavour,
                        "rate": rate,
                        "calls": n,
                        "ok": int((report.get("statusCodeDistribution") or {}).get("OK", 0)),
                        "p50_ms": round(pct.get("p50", 0.0), 2),
                        "p99_ms": round(pct.get("p99", 0.0), 2),
                        "server_cpu_ms_per_call": round(cpu / n * 1000, 3) if n else None,
                        "ghz_cpu_ms_per_call": round(report["_cpu_s"] / n * 1000, 3) if n else None,
                        "load_avg_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                server.terminate()
                server.wait(30)
                time.sleep(0.5)
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    print("\nserver        rate  calls     ok   p50    p99 ms  server CPU/call  ghz CPU/call  load")
    for r in rows:
        print(
            f"{r['server']:<12} {r['rate']:>5} {r['calls']:>6} {r['ok']:>6} {r['p50_ms']:>5} {r['p99_ms']:>7} "
            f"{r['server_cpu_ms_per_call']:>12} ms {r['ghz_cpu_ms_per_call']:>10} ms  {r['load_avg_1m']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
