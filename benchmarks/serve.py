"""Benchmark: the HTTP API of `crmpipe serve` under concurrent clients, on DuckDB and PostgreSQL.

For each store, in one run: the reference queries through the library (`crmpipe.search.search`,
no HTTP, one thread, 10 s); then a `crmpipe serve --no-cache` process on loopback, asked by 1
client (10 s) and by `--clients` (`--duck-clients` on DuckDB) for `--seconds`; then a `crmpipe
serve` with its answer cache (serve.cache), asked by as many. Each client keeps one HTTP
connection and sends the three reference queries (`/api/search?q=...`, top 50 + capped count)
in turn, the next when the answer is read (a closed loop, no pause). On PostgreSQL, `--swap`
re-publishes the build during the cached many-client load (`--swap-uncached`: the uncached one
too), 2 s in, and the load goes on until 3 s after the swap. Prints requests, errors,
requests/s, latency percentiles and the CPU the server process (with its workers) and the load
generator used during the load (% of one core; the machine has 2) per row, with the load
averages before and after.

The clients come from benchmarks/serve_load.py, one asyncio process (raw HTTP/1.1, answers read
by Content-Length, not parsed), running on the same 2 cores as the server and PostgreSQL: its
own cost is part of the figures. With N clients in a closed loop, the mean latency is N divided
by the requests answered per second, so a p99 target at 50 clients is a throughput target.

Targets (issue 13): 4.5M contacts on PostgreSQL, 50 clients for 60 s, p99 ≤ 50 ms, zero errors,
also while a publish swaps; DuckDB, 10 clients, p99 ≤ 200 ms.

Usage: uv run python benchmarks/serve.py [--contacts N] [--store duckdb|pg|both]
         [--clients N] [--duck-clients N] [--seconds S] [--swap [--swap-uncached]] [--keep]
         [--fast] [--published] [--dir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crmpipe.config.load import load_config
from crmpipe.demo.runner import REFERENCE_QUERIES
from crmpipe.publish import publish
from crmpipe.search import PostgresBackend, search
from crmpipe.serve import connect_pg
from crmpipe.warehouse.connection import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from postgres import BENCH_SETTINGS, prepare_case  # noqa: E402 - a sibling script

console = Console(width=None if os.isatty(1) else 140)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Load:
    """What the clients saw: one latency (ms) per answered request, and the failures."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    swap: str = ""
    client_cpu: float = 0.0  # CPU seconds of the load generator
    server_cpu: float = 0.0  # CPU seconds of the server process (and its workers)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    config: Path, dsn: str | None, *, cache: bool = True
) -> tuple[subprocess.Popen, int]:
    """A `crmpipe serve` process on a free loopback port, once it answers /api/fields."""
    port = _free_port()
    exe = Path(sys.executable).parent / "crmpipe"  # the venv's console script
    cmd = [str(exe), "serve", "-c", str(config), "--port", str(port)]
    if dsn:
        cmd += ["--pg", dsn]
    if not cache:
        cmd += ["--no-cache"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"crmpipe serve exited: {proc.stderr.read().decode()[-500:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/fields")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("crmpipe serve did not answer within 60 s")


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its living descendants (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def hammer(
    port: int, clients: int, seconds: float, swap: callable | None = None, server: int = 0
) -> Load:
    """`clients` connections for `seconds` from the load generator (benchmarks/serve_load.py,
    its own process: asyncio, one loop). With `swap`, the publish starts 2 s into the load and
    the load goes on until 3 s after its swap (past `seconds` if the publish takes longer), so
    the swap always lands under load."""
    paths = [
        "/api/search?" + urllib.parse.urlencode({"q": q, "limit": 50}) for q in REFERENCE_QUERIES
    ]
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "serve_load.py"),
        "--port",
        str(port),
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        *(["--wait-stdin"] if swap is not None else []),
        *paths,
    ]
    load = Load()
    cpu0 = cpu_seconds(server) if server else 0.0
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if swap is not None:
        time.sleep(2)
        s0 = time.perf_counter()
        swap()
        took = time.perf_counter() - s0
        load.swap = f"re-published under load ({took:.0f} s), swapped at {2 + took:.0f} s"
    out, _ = proc.communicate(b"\n", timeout=seconds + 600)
    answer = json.loads(out)
    load.latencies, load.errors, load.seconds = (
        answer["latencies"],
        answer["errors"],
        answer["seconds"],
    )
    load.client_cpu = answer["cpu"]
    load.server_cpu = cpu_seconds(server) - cpu0 if server else 0.0
    return load


def baseline(con: object, cfg: object, seconds: float) -> Load:
    """The same queries through the library from one thread, no HTTP: the plain baseline."""
    load = Load()
    stop = time.monotonic() + seconds
    opts = {"aliases": cfg.search.aliases, "shorthands": cfg.search.shorthands, "limit": 50}
    i = 0
    t_start = time.perf_counter()
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        search(con, REFERENCE_QUERIES[i % len(REFERENCE_QUERIES)], **opts)
        load.latencies.append((time.perf_counter() - t0) * 1000)
        i += 1
    load.seconds = time.perf_counter() - t_start
    return load


def _row(table: Table, label: str, clients: int, load: Load, note: str = "") -> None:
    n = len(load.latencies)
    table.add_row(
        label,
        str(clients),
        f"{n:,}",
        f"{len(load.errors):,}",
        f"{n / load.seconds:,.0f}" if load.seconds else "",
        f"{statistics.median(load.latencies):.1f}" if n else "",
        f"{load.percentile(0.95):.1f}",
        f"{load.percentile(0.99):.1f}",
        f"{max(load.latencies):.1f}" if n else "",
        f"{100 * load.server_cpu / load.seconds:.0f}%" if load.server_cpu else "",
        f"{100 * load.client_cpu / load.seconds:.0f}%" if load.client_cpu else "",
        note,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--store", choices=("duckdb", "pg", "both"), default="both")
    ap.add_argument("--clients", type=int, default=50, help="PostgreSQL clients")
    ap.add_argument("--duck-clients", type=int, default=10, help="DuckDB clients")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument(
        "--swap", action="store_true", help="re-publish during the cached load (PostgreSQL)"
    )
    ap.add_argument(
        "--swap-uncached",
        action="store_true",
        help="with --swap, re-publish during the uncached load too (the publish then takes "
        "minutes: PostgreSQL's cores are busy answering)",
    )
    ap.add_argument("--keep", action="store_true", help="reuse the generated case")
    ap.add_argument("--fast", action="store_true", help="fsync-off PostgreSQL settings")
    ap.add_argument(
        "--published",
        action="store_true",
        help="CRMPIPE_PG_DSN already serves this build: don't publish it first",
    )
    ap.add_argument("--dir", type=Path, default=None, help="case folder (default: bench-data/)")
    args = ap.parse_args()
    # the case's files and warehouse live in the git-ignored bench-data/, as every benchmark's
    # do; benchmarks/results/ holds only the recorded figures
    folder = args.dir or ROOT / "bench-data" / f"serve-{args.contacts}"
    config, _ = prepare_case(folder, args.contacts, args.keep)
    cfg = load_config(config)
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table(
        title=f"crmpipe serve, {args.contacts:,} contacts, {args.seconds:.0f} s per load "
        f"(load average before: {load_avg}; clients share the server's 2 cores)"
    )
    for col in ("store", "clients", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "store" else "left")
    table.add_column("max ms", justify="right")
    table.add_column("server CPU", justify="right")
    table.add_column("client CPU", justify="right")
    table.add_column("note")
    cluster = None
    loads: dict[str, Load] = {}
    try:
        if args.store in ("duckdb", "both"):
            duck = connect(cfg.warehouse_path, read_only=True)
            _row(table, "library, DuckDB", 1, baseline(duck, cfg, min(args.seconds, 10)))
            duck.close()
            for cache in (False, True):
                proc, port = start_server(config, None, cache=cache)
                label = "HTTP, DuckDB" + (", cache" if cache else "")
                try:
                    if not cache:
                        _row(
                            table, label, 1, hammer(port, 1, min(args.seconds, 10), server=proc.pid)
                        )
                    load = hammer(port, args.duck_clients, args.seconds, server=proc.pid)
                    _row(table, label, args.duck_clients, load)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                loads[label] = load
        if args.store in ("pg", "both"):
            from crmpipe.publish.pgserver import FAST_SETTINGS, start_cluster

            dsn = os.environ.get("CRMPIPE_PG_DSN", "").strip()
            if not dsn:
                cluster = start_cluster(FAST_SETTINGS if args.fast else BENCH_SETTINGS)
                dsn = cluster.dsn("postgres")
            duck = connect(cfg.warehouse_path, read_only=True)
            if not args.published:
                publish(duck, dsn, cfg=cfg)
            pg = connect_pg(dsn, statement_timeout=None)
            _row(
                table,
                "library, PostgreSQL",
                1,
                baseline(PostgresBackend(pg), cfg, min(args.seconds, 10)),
            )
            pg.close()

            def swap() -> None:
                # a full versioned publish and its swap: the same build again would otherwise
                # go in place with nothing to change (docs/postgres.md, Publishing in place)
                publish(duck, dsn, cfg=cfg, full=True)

            try:
                for cache in (False, True):
                    proc, port = start_server(config, dsn, cache=cache)
                    label = "HTTP, PostgreSQL" + (", cache" if cache else "")
                    try:
                        if not cache:
                            _row(
                                table,
                                label,
                                1,
                                hammer(port, 1, min(args.seconds, 10), server=proc.pid),
                            )
                        swapping = args.swap and (cache or args.swap_uncached)
                        load = hammer(
                            port,
                            args.clients,
                            args.seconds,
                            swap if swapping else None,
                            server=proc.pid,
                        )
                        _row(table, label, args.clients, load, load.swap)
                    finally:
                        proc.terminate()
                        proc.wait(timeout=30)
                    loads[label] = load
            finally:
                duck.close()
        for label, load in loads.items():
            for error in sorted(set(load.errors))[:5]:
                console.print(f"{label}: error: {error}", highlight=False)
    finally:
        if cluster is not None:
            cluster.stop()
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table.caption = f"load average after: {load_after}"
    console.print(table)


if __name__ == "__main__":
    main()
