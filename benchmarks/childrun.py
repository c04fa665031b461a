"""Run `crmpipe run` in a child process and return its figures (shared by the benchmarks).

A child process, so that its peak RSS (`ru_maxrss`) and CPU time are the run's alone, not the
generator's or an earlier run's in the same benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_CODE = """\
import json, resource, sys
from crmpipe.pipeline import run_path
s = run_path(sys.argv[1], **json.loads(sys.argv[2]))
u = resource.getrusage(resource.RUSAGE_SELF)
t = s.totals()
print(json.dumps({
    'seconds': s.seconds, 'rss_kb': u.ru_maxrss, 'cpu': u.ru_utime + u.ru_stime,
    'steps': [(x.step, x.target, x.seconds, x.rows, x.detail) for x in s.steps],
    'read': t.read, 'loaded': t.loaded, 'rejected': t.rejected, 'quarantined': t.quarantined,
    'search_rows': s.search_rows, 'balanced': all(c.balanced for c in s.tables),
    'checks': len(s.checks), 'slas': len(s.slas),
    'failed': s.checks_failed, 'warned': s.checks_warned,
}))
"""


def child_run(config: Path, **run_kwargs: Any) -> dict[str, Any]:
    """`pipeline.run_path(config, **run_kwargs)` in a child process: its summary (steps as
    [step, target, seconds, rows, detail]), peak RSS in KB, CPU seconds, and `wall` seconds."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CODE, str(config), json.dumps(run_kwargs)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result
