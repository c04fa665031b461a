"""Python parsing over several processes: the libraries that parse addresses and names are pure
Python, so one process parses ~3–6k distinct values/s; chunks of distinct values go to a pool of
worker processes (one per core) when there are enough of them to pay for the workers' start.

`CRMPIPE_PARSE_WORKERS` sets the number of processes (1: parse in this process).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

__all__ = ["parallel_map", "workers"]

T = TypeVar("T")
R = TypeVar("R")

#: Fewer values than this are parsed in this process (a worker takes ~1 s to start).
MIN_PARALLEL = 20_000
#: Values per task: small enough to balance the cores, large enough to amortise pickling.
CHUNK = 10_000


def workers() -> int:
    """Processes to parse with: `CRMPIPE_PARSE_WORKERS`, else the machine's cores."""
    configured = os.environ.get("CRMPIPE_PARSE_WORKERS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, os.cpu_count() or 1)


def _spawnable() -> bool:
    """Spawned workers re-import the main module from its file: not possible when the program
    came from stdin or an interactive prompt."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def parallel_map(fn: Callable[[list[T]], list[R]], values: list[T]) -> Iterator[list[R]]:
    """`fn` over chunks of `values`, results in order, chunk by chunk.

    `fn` must be a module-level function (it is sent to the workers by name). Workers are
    spawned, not forked: the caller holds a DuckDB connection whose threads a fork would copy.
    """
    n = workers()
    if n < 2 or len(values) < MIN_PARALLEL or not _spawnable():
        if values:
            yield fn(values)
        return
    size = max(1_000, min(CHUNK, -(-len(values) // (n * 4))))
    chunks = [values[i : i + size] for i in range(0, len(values), size)]
    context = multiprocessing.get_context("spawn")
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
            futures = [pool.submit(fn, chunk) for chunk in chunks]
            for future in futures:
                result = future.result()
                done += 1
                yield result
    except (BrokenProcessPool, OSError):  # workers could not start or died: finish here
        for chunk in chunks[done:]:
            yield fn(chunk)
