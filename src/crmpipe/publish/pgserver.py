"""A throwaway PostgreSQL server built from the machine's own binaries (tests, benchmarks).

`initdb` into a temporary directory, start the server on a free localhost port (with its unix
socket in the same directory), hand out DSNs, and stop and delete everything at the end. As root,
`initdb` and the server run as the `postgres` user (`initdb` refuses root), so the directory is
chowned to that user. The test session uses `FAST_SETTINGS` (no fsync: the cluster is deleted
afterwards); `benchmarks/postgres.py` passes settings closer to a real server's.

Not part of publishing itself: a publish takes the DSN of a server someone runs. This lives in
the package (not under tests/) so the benchmark and the test fixtures share it.
`python -m crmpipe.publish.pgserver` starts one and prints its DSN until Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from crmpipe.errors import CrmpipeError

#: Settings for a cluster nobody needs to survive a crash: no fsync, no full-page images.
FAST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "max_connections": "60",
}


class PgUnavailable(CrmpipeError):
    """No PostgreSQL server binaries here (or no user to run them as); says how to get them."""


def find_bindir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: PG_BINDIR, `pg_config --bindir`, Debian's
    `/usr/lib/postgresql/<version>/bin` (newest first), then PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    """One running throwaway cluster; `dsn()` gives a connection string for a database in it."""

    bindir: Path
    root: Path  # temp dir holding data/, the socket and the log
    port: int
    superuser: str
    run_as: str | None  # OS user the server runs as (None = the current user)
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq DSN over TCP on localhost (trust authentication)."""
        return f"host=127.0.0.1 port={self.port} user={self.superuser} dbname={dbname}"

    def _cmd(self, *args: str) -> list[str]:
        return (
            [_runuser() or "runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)
        )

    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a checkpoint) and delete it all."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.pg_ctl("stop", "-m", "immediate", "-w", timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as_user() -> str | None:
    """As root, the OS user to run PostgreSQL as (`postgres`); otherwise None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable(
            "running as root but there is no 'postgres' user to run the server as; "
            "install PostgreSQL with scripts/ensure-postgres.sh (it creates that user)"
        ) from None
    if not _runuser():
        raise PgUnavailable("running as root but 'runuser' is missing (util-linux)")
    return "postgres"


def _runuser() -> str | None:
    """runuser's path: on PATH, or in the system directories a non-login shell's PATH may lack
    (util-linux installs it in /usr/sbin, which `env PATH=/usr/bin:/bin` leaves out)."""
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def start_cluster(settings: dict[str, str] | None = None, *, attempts: int = 3) -> PgCluster:
    """initdb + start a cluster in a new temp directory; raise PgUnavailable without binaries.

    `settings` go into postgresql.conf (default FAST_SETTINGS). The port is picked free just
    before starting; should another process grab it in between, we retry on a new port.
    """
    bindir = find_bindir()
    if bindir is None:
        raise PgUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; run scripts/ensure-postgres.sh "
            "(apt-get install postgresql postgresql-contrib), set PG_BINDIR, or set "
            "CRMPIPE_TEST_PG_DSN to an existing server"
        )
    run_as = _run_as_user()
    root = Path(tempfile.mkdtemp(prefix="crmpipe-pg-"))
    cluster = PgCluster(bindir, root, 0, run_as or pwd.getpwuid(os.geteuid()).pw_name, run_as)
    atexit.register(cluster.stop)  # backstop should the session end without its teardown
    try:
        cluster.socket_dir.mkdir()
        if run_as:
            info = pwd.getpwnam(run_as)
            os.chmod(root, 0o700)
            for p in (root, cluster.socket_dir):
                os.chown(p, info.pw_uid, info.pw_gid)
        init = subprocess.run(
            cluster._cmd(
                str(bindir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                cluster.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        conf = dict(FAST_SETTINGS if settings is None else settings)
        conf["listen_addresses"] = "'127.0.0.1'"
        conf["unix_socket_directories"] = f"'{cluster.socket_dir}'"
        for attempt in range(attempts):
            cluster.port = free_port()
            conf["port"] = str(cluster.port)
            lines = "".join(f"{k} = {v}\n" for k, v in conf.items())
            auto = cluster.data_dir / "postgresql.auto.conf"
            auto.write_text("# written by crmpipe.publish.pgserver\n" + lines)
            if run_as:
                info = pwd.getpwnam(run_as)
                os.chown(auto, info.pw_uid, info.pw_gid)
            started = cluster.pg_ctl("start", "-w", "-t", "60", "-l", str(cluster.log_file))
            if started.returncode == 0:
                return cluster
            if attempt == attempts - 1:
                raise RuntimeError(
                    f"pg_ctl start failed: {started.stderr.strip()}\n{cluster.log_tail()}"
                )
            time.sleep(0.2)
        raise AssertionError("unreachable")
    except BaseException:
        cluster.stop()
        raise


if __name__ == "__main__":  # pragma: no cover - manual use
    c = start_cluster()
    print(c.dsn(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()
