"""`clozings run`: the whole product on one machine.

cli.py has already started the embedded PostgreSQL and Redis when DATABASE_URL /
REDIS_URL are unset. This command starts localstripe when STRIPE_SECRET_KEY is unset (and a
loopback Graph API stand-in for the Meta adapter when META_GRAPH_API_BASE is unset),
brings the schemas up to date, loads the demo data, then runs gunicorn, a Celery worker and
Celery beat as child processes until Ctrl-C or SIGTERM. One of them that dies is started
again (a mail or delivery it held is in the database, and beat's sweepers send it again).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clozings.billing.stripe_client import register_local_webhook
from clozings.platform import embedded
from clozings.platform.management.commands.demo import DEMO_SLUG, DEMO_ZIP, LOGINS

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
STOP_TIMEOUT_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 90.0
# A child that dies this soon after starting, this many times in a row, is broken (a port
# taken, a bad setting): everything stops rather than restarting it forever.
SHORT_LIFE_SECONDS = 30.0
MAX_SHORT_LIVES = 5


class _StopRequested(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _Children:
    """Child processes by name, started in their own sessions so that Ctrl-C reaches only
    `clozings run`, which then stops them in order."""

    stdout: object
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # How to start again the children that are restarted when they die.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    short_lives: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str], *,
              restart: bool = False) -> subprocess.Popen:
        process = embedded.spawn(argv, env=env, stdin=subprocess.DEVNULL)
        self.processes[name] = process
        self.started_at[name] = time.monotonic()
        if restart:
            self.commands[name] = (argv, env)
        return process

    def restart(self, name: str) -> bool:
        """Start a dead child again; False when it is not restarted (not one that is, or
        it keeps dying as soon as it starts)."""
        if name not in self.commands:
            return False
        lived = time.monotonic() - self.started_at[name]
        self.short_lives[name] = self.short_lives.get(name, 0) + 1 \
            if lived < SHORT_LIFE_SECONDS else 0
        if self.short_lives[name] >= MAX_SHORT_LIVES:
            return False
        # Whatever the dead child left in its session (Celery's pool, gunicorn's workers).
        _signal_group(self.processes[name].pid, signal.SIGKILL)
        argv, env = self.commands[name]
        self.start(name, argv, env, restart=True)
        return True

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        self.processes[name] = process

    def first_dead(self) -> tuple[str, str] | None:
        """The first child that has exited, and how (an exit code or a signal's name)."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 \
                    else f"exited with code {code}"
                return name, how
        return None

    def stop_all(self) -> None:
        """SIGTERM every child at once, wait for each, then SIGKILL what is left."""
        running = [(name, p) for name, p in reversed(self.processes.items())
                   if p.poll() is None]
        for _, process in running:
            _signal(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stdout.write(f"clozings run: {name} did not stop in time; killing it")
                process.kill()
                process.wait()
        # Whatever a child left behind in its session (gunicorn's or Celery's own workers).
        for _, process in running:
            _signal_group(process.pid, signal.SIGKILL)
        self.processes.clear()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _port_is_free(port: int) -> bool:
    """Nothing listens there (gunicorn binds with SO_REUSEADDR, so TIME_WAIT is fine)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def local_secret_key(home: Path) -> str:
    """This machine's own SECRET_KEY for `clozings run`, made once and kept in
    CLOZINGS_HOME (readable by its owner only): the web server and Celery refuse the
    development key that everyone knows (startup.py)."""
    path = home / "secret-key"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def child_environment(port: int) -> dict[str, str]:
    """What every child gets: this process's environment (with the embedded services' URLs
    that cli.py filled in) and, unless set, plain-HTTP links and cookies on this port and
    this machine's own secret key."""
    env = dict(os.environ)
    env.setdefault("CLOZINGS_HTTPS", "false")
    env.setdefault("CLOZINGS_PUBLIC_PORT", str(port))
    env.setdefault("CLOZINGS_HOME", str(embedded.clozings_home()))
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = local_secret_key(Path(env["CLOZINGS_HOME"]))
    env["PYTHONUNBUFFERED"] = "1"
    if not env.get("EMAIL_BACKEND") and not env.get("EMAIL_HOST"):
        # No mail server configured: invitations and password resets are printed here.
        env["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    return env


def _clozings(*args: str) -> list[str]:
    return [sys.executable, "-m", "clozings.platform.cli", *args]


class Command(BaseCommand):
    help = ("Start the whole product on this machine: migrations, demo data, gunicorn, a "
            "Celery worker and Celery beat (Ctrl-C stops everything).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000,
                            help="port of the web server on 127.0.0.1 (default 8000)")
        parser.add_argument("--no-demo", action="store_true", help="skip the demo data")

    def handle(self, *args, port: int, no_demo: bool, **options) -> None:
        if not 1 <= port <= 65535:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        if not _port_is_free(port):
            raise CommandError(f"Port {port} is in use; choose another with --port.")
        children = _Children(stdout=self.stdout)
        previous = {signum: signal.signal(signum, self._request_stop)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run(children, port=port, demo=not no_demo)
        except _StopRequested as stop:
            self.stdout.write(f"\nclozings run: {stop} received; stopping")
        finally:
            # A second Ctrl-C while stopping must not leave children behind.
            for signum in previous:
                signal.signal(signum, signal.SIG_IGN)
            children.stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("clozings run: stopped")

    @staticmethod
    def _request_stop(signum, frame) -> None:
        raise _StopRequested(signum)

    def _run(self, children: _Children, *, port: int, demo: bool) -> None:
        env = child_environment(port)
        stripe_note = "STRIPE_SECRET_KEY"
        if not os.environ.get("STRIPE_SECRET_KEY"):
            api_base, process = embedded.start_localstripe()
            children.adopt("localstripe", process)
            env["STRIPE_API_BASE"] = api_base
            # localstripe sends signed events to the app, as Stripe's dashboard endpoint does.
            register_local_webhook(
                api_base=api_base, secret=settings.STRIPE_WEBHOOK_SECRET,
                url=f"http://{settings.CLOZINGS_DOMAIN}:{port}/billing/stripe/webhook")
            stripe_note = f"localstripe at {api_base} (webhooks to this app)"

        graph_note = "META_GRAPH_API_BASE"
        if not os.environ.get("META_GRAPH_API_BASE"):
            # No Meta on one machine: the Meta adapter reads leads from a loopback stand-in
            # that serves what `clozings simulate` leaves for it.
            graph_base, process = embedded.start_graph_standin()
            children.adopt("graph stand-in", process)
            env["META_GRAPH_API_BASE"] = graph_base
            graph_note = (f"stand-in at {graph_base} (serves the Meta leads `clozings "
                          "simulate` sends)")

        self._step(children, "migrations",
                   _clozings("migrate_schemas", "--noinput", "--verbosity", "0"), env)
        # whitenoise serves the apps' static files through the finders; it only wants the
        # collected-files directory to exist (collectstatic is for the container image).
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        if demo:
            self._step(children, "demo data", _clozings("demo", "--verbosity", "0"), env)

        home = Path(env["CLOZINGS_HOME"])
        celery = [sys.executable, "-m", "celery", "-A", "clozings.platform.celery", "--quiet"]
        children.start("web (gunicorn)", [
            sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
            "--bind", f"127.0.0.1:{port}", "clozings.platform.wsgi:application"], env,
            restart=True)
        # One worker on one machine: nobody to gossip or mingle with. Its own name, so the
        # readiness ping hears this worker and not another one on a shared broker.
        worker_name = f"clozings-run-{os.getpid()}@{socket.gethostname()}"
        children.start("Celery worker", [
            *celery, "worker", "--loglevel", "INFO", "--hostname", worker_name,
            "--without-mingle", "--without-gossip",
        ], env, restart=True)
        children.start("Celery beat", [
            *celery, "beat", "--loglevel", "INFO",
            "--schedule", str(home / "celerybeat-schedule")], env, restart=True)
        self._wait_until_ready(children, port, worker_name)
        self._banner(port=port, demo=demo, env=env, stripe_note=stripe_note,
                     graph_note=graph_note)

        while True:
            dead = children.first_dead()
            if dead is not None:
                name, how = dead
                if not children.restart(name):
                    raise CommandError(f"{name} {how}; stopped the rest.")
                self.stdout.write(f"clozings run: {name} {how}; started it again")
            time.sleep(0.5)

    def _step(self, children: _Children, what: str, argv: list[str],
              env: dict[str, str]) -> None:
        self.stdout.write(f"clozings run: {what}...")
        started = time.monotonic()
        process = children.start(what, argv, env)
        code = process.wait()
        children.processes.pop(what, None)
        if code != 0:
            raise CommandError(f"{what} failed (exit code {code}); see the output above.")
        self.stdout.write(f"clozings run: {what} done in {time.monotonic() - started:.1f} s")

    def _wait_until_ready(self, children: _Children, port: int, worker_name: str) -> None:
        """Until the web server answers and the worker replies to a ping."""
        from clozings.platform.celery import app

        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        waiting_for = "the web server"
        while True:
            dead = children.first_dead()
            if dead is not None:
                raise CommandError(f"{dead[0]} {dead[1]} while starting.")
            if time.monotonic() > deadline:
                raise CommandError(f"{waiting_for} did not answer within "
                                   f"{READY_TIMEOUT_SECONDS:.0f} s.")
            if waiting_for == "the web server" and _port_answers(port):
                waiting_for = "the Celery worker"
            if waiting_for == "the Celery worker" and app.control.ping(
                    destination=[worker_name], timeout=0.5):
                return
            time.sleep(0.2)

    def _banner(self, *, port: int, demo: bool, env: dict[str, str], stripe_note: str,
                graph_note: str = "META_GRAPH_API_BASE") -> None:
        domain = settings.CLOZINGS_DOMAIN
        lines = [
            "",
            "Clozings is running.",
            f"  platform:        http://{domain}:{port}/",
        ]
        if demo:
            lines.append(f"  demo brokerage:  http://{DEMO_SLUG}.{domain}:{port}/")
            lines.append("  demo logins (email / password):")
            lines += [f"    {login.who:<22} {login.email:<26} {login.password}"
                      for login in LOGINS]
            lines.append(f"  demo leads:      ZIP {DEMO_ZIP} is the demo agent's; a demo lead "
                         "source per adapter (native, Follow Up Boss, Meta, Google), keys in "
                         f"{env['CLOZINGS_HOME']}/demo-lead-sources.json")
            lines.append(f"                   try: clozings simulate --leads 200 --rate 20 "
                         f"--host http://{domain}:{port}")
        home = env["CLOZINGS_HOME"]
        database = (f"embedded, in {home}/pgdata" if "postgres" in embedded.started
                    else "DATABASE_URL")
        broker = f"embedded, in {home}/redis" if "redis" in embedded.started else "REDIS_URL"
        mail = "printed here" if env.get("EMAIL_BACKEND", "").endswith(
            "console.EmailBackend") else f"sent through {settings.EMAIL_BACKEND}"
        lines += [
            f"  PostgreSQL:      {database}",
            f"  Redis:           {broker}",
            f"  Stripe:          {stripe_note}",
            f"  Meta Graph API:  {graph_note}",
            f"  mail:            {mail}",
            "Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
