"""The load generator of benchmarks/serve.py: `--clients` concurrent HTTP/1.1 keep-alive
connections on one asyncio loop, in their own process, each sending the given paths in turn for
`--seconds` (closed loop: a client sends its next request when the previous answer is read).

Cheap on purpose, since it shares the server's 2 cores: raw asyncio streams, one request line
written per request, the answer read by its Content-Length; an answer counts when its status is
200 and its body was read whole (bodies are not parsed: a JSON decode per answer would cost the
client more than some answers cost the server). Prints one JSON object on stdout: the latencies
in ms of the answered requests, the failures (status or exception, first 120 characters) and
the CPU seconds the generator itself used (`cpu`), which it took from the server's cores.

Usage: python benchmarks/serve_load.py --port P --clients N --seconds S [--header 'K: V']
         [--wait-stdin] PATH...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time


async def _client(
    port: int, request_bytes: list[bytes], stop: list[float], start: int, out: list, errors: list
) -> None:
    reader = writer = None
    i = start
    while time.monotonic() < stop[0]:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError as exc:
                errors.append(f"connect: {exc}"[:120])
                await asyncio.sleep(0.05)
                continue
        request = request_bytes[i % len(request_bytes)]
        i += 1
        t0 = time.perf_counter()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length)
            if status != 200:
                errors.append(f"{status}: {body[:100]!r}")
                continue
            out.append((time.perf_counter() - t0) * 1000)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:120])
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _until_told(stop: list[float], seconds: float, after: float) -> None:
    """Run until `seconds` have passed and a line came on stdin, plus `after` seconds."""
    deadline = stop[0]
    stop[0] = float("inf")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop[0] = max(deadline, time.monotonic() + after)


async def _run(
    port: int,
    clients: int,
    seconds: float,
    paths: list[str],
    headers: list[str],
    wait_stdin: bool,
):
    extra = "".join(f"{h}\r\n" for h in headers)
    request_bytes = [
        f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode() for p in paths
    ]
    latencies: list[float] = []
    errors: list[str] = []
    stop = [time.monotonic() + seconds]
    t0 = time.perf_counter()
    waiter = asyncio.ensure_future(_until_told(stop, seconds, 3.0)) if wait_stdin else None
    await asyncio.sleep(0)
    await asyncio.gather(
        *(_client(port, request_bytes, stop, c, latencies, errors) for c in range(clients))
    )
    if waiter is not None:
        await waiter
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": time.perf_counter() - t0,
        "cpu": usage.ru_utime + usage.ru_stime,  # the generator's own CPU seconds
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument(
        "--wait-stdin",
        action="store_true",
        help="go on past --seconds until a line comes on stdin, then 3 s more",
    )
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    result = asyncio.run(
        _run(args.port, args.clients, args.seconds, args.paths, args.header, args.wait_stdin)
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
