"""The CRM at scale: the agent's pages, logging a touch, the follow-up report, and a new
column on a CRM table migrated across many brokerages (QUALITY.md).

Two brokerages are made with services.provision_brokerage, each with 20 agent seats: a
small one with 1,000 leads and a big one with BENCH_CRM_LEADS leads (default 200,000),
1 in 20 of them the benchmarked agent's (10,000 of 200,000). The rows are written with
INSERT ... SELECT over generate_series inside the brokerage's schema (copies of one lead
made with services.create_lead): leads spread over a year in every stage, one open call
task per open lead (a third overdue, a third due today, a third later), three activities
per lead and a stage change per lead that left "new"; then VACUUM ANALYZE, the state
autovacuum keeps a year's tables in.

Figures (median over BENCH_RUNS runs; `queries` is the query count of one request;
`leads` the leads in the brokerage; `load_avg` the 1-minute load average):
- crm_today_page / crm_lead_page: GET /today/ and /leads/<id>/ as the agent, through
  Django's test client on the brokerage's host, in process (server time: middleware,
  session, queries, template), at BENCH_CRM_LEADS leads; baseline the same page at 1,000
  leads. The query count must be the same at both sizes (`same_queries`); target 50 ms.
- crm_today_selector: selectors_pages.today_for alone (the Today page's reads, no request
  or template), to tell the queries' share of crm_today_page from the rendering's.
- crm_log_activity: services.log_activity (a call, "no answer") on an open lead of the
  agent at BENCH_CRM_LEADS leads; baseline the same at 1,000 leads.
- crm_follow_up_report_team / _agent: reports.follow_up_report over the last 365 days for
  the admin (whole team, a row per agent) and for the agent; baseline the same at 1,000.
  `parts_ms`: the median ms of each of its parts (lead_figures, roi_by_territory,
  roi_by_source, by_agent), called alone (each is the same one pass over the leads that
  the whole report makes once). Targets: 300 ms (team) and 100 ms (agent).
- crm_team_home: GET / as the admin (the team's week: crm.views_reports.team_home), through
  the test client like the pages; `parts_ms` has reports.team_week alone; baseline the
  same at 1,000 leads. Target 100 ms.
- crm_migrate_add_column: `migrate_schemas` applying one migration that adds a nullable
  column to crm_lead, across BENCH_MIGRATE_BROKERAGES brokerages (default 1000; made as
  bench_provisioning makes them) and the template, once (undoing it costs as much as
  doing it); `progress_lines` counts its "migrate_schemas: n/N" lines. Baseline
  crm_migrate_add_column_one_schema: the same migration on one schema
  (`migrate_schemas --schema`), undone between runs. Target: under 60 s for 1,000.
  BENCH_CRM_MIGRATE_ONLY=1 runs these two figures alone (with the small brokerage only).

Provisioning and a no-op `migrate_schemas` with the CRM's tables in every schema are
bench_provisioning's figures (BENCH_ONLY=provisioning; BENCH_BROKERAGES=10000 is the
QUALITY.md run). Everything made here is dropped at the end, so the other benchmarks find
the database as run_all left it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from clozings.crm import reports, services
from clozings.crm import selectors_pages as pages
from clozings.crm.models import Activity, Lead, Task
from clozings.platform.tenancy import in_schema
from clozings.tenants import provisioning
from clozings.tenants import services as tenant_services
from clozings.tenants.models import Brokerage, Seat, User
from tests.perf.bench_provisioning import add_brokerages
from tests.perf.harness import BenchContext, figure, time_runs

CRM_LEADS = int(os.environ.get("BENCH_CRM_LEADS", "200000"))
SMALL_LEADS = int(os.environ.get("BENCH_CRM_SMALL_LEADS", "1000"))
MIGRATE_BROKERAGES = int(os.environ.get("BENCH_MIGRATE_BROKERAGES", "1000"))
# 1: only the crm_migrate_add_column figures (no big brokerage, no pages or reports)
MIGRATE_ONLY = os.environ.get("BENCH_CRM_MIGRATE_ONLY") == "1"
AGENTS = 20  # seats per brokerage; the benchmarked agent holds 1 lead in AGENTS
PASSWORD = "bench-password-not-secret-1"
TARGET_PAGE_MS = 50
TARGET_REPORT_MS = {"crm_follow_up_report_team": 300, "crm_follow_up_report_agent": 100}
TARGET_TEAM_HOME_MS = 100
TARGET_MIGRATE_MS = 60_000
BENCH_MIGRATION = "0999_bench_added_column"
OPEN = "('new', 'contacted', 'appointment', 'agreement', 'under_contract')"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


# --- data ----------------------------------------------------------------------------------
class Brokerage_:
    """A benchmark brokerage: its admin, its agent seat and one of the agent's open leads."""

    def __init__(self, slug: str, leads: int):
        self.brokerage = tenant_services.provision_brokerage(
            name=slug.title(), slug=slug, admin_email=f"admin@{slug}.bench",
            admin_name="Bench Admin", admin_password=PASSWORD)
        self.admin_seat = Seat.objects.get(brokerage=self.brokerage, role=Seat.Role.ADMIN)
        self.seats = [Seat.objects.create(
            brokerage=self.brokerage, user=User.objects.create_user(
                f"agent{number}@{slug}.bench", None, name=f"Agent {number}"),
            email=f"agent{number}@{slug}.bench", name=f"Agent {number}",
            role=Seat.Role.AGENT, status=Seat.Status.ACTIVE, activated_at=timezone.now())
            for number in range(AGENTS)]
        self.agent = self.seats[0]
        self.host = tenant_services.brokerage_host(self.brokerage)
        self.leads = leads
        with in_schema(self.brokerage.schema_name):
            _fill(self.agent, [seat.pk for seat in self.seats[1:]], leads)
            self.lead = (Lead.objects.filter(agent_id=self.agent.pk, stage="contacted",
                                             tasks__completed_at__isnull=True)
                         .order_by("-pk").first())


def _copy_rows(cursor, model, *, template_id: int, source: str, overrides: dict[str, str],
               where: str = "TRUE") -> None:
    """INSERT copies of row `template_id` of `model`, one per row of `source` (SQL joined
    to the template as `t`), with the columns in `overrides` set by SQL expressions."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    unknown = set(overrides) - set(columns)
    assert not unknown, f"not columns of {table}: {unknown}"
    values = [overrides.get(column, f't."{column}"') for column in columns]
    quoted = ", ".join(f'"{column}"' for column in columns)
    cursor.execute(
        f"INSERT INTO {table} ({quoted}) "
        f"SELECT {', '.join(values)} FROM {table} t {source} "
        f"WHERE t.id = {int(template_id)} AND ({where})")


def _fill(agent: Seat, others: list[int], count: int) -> None:
    """`count` leads (1 in AGENTS the agent's) with their tasks, activities and stage
    changes, written in SQL from copies of one lead entered through the service."""
    now = timezone.now()
    template = services.create_lead(by=None, agent=agent, now=now, fields={
        "first_name": "Bench", "last_name": "Lead", "email": "template@bench.test",
        "zip_code": "10001", "source_name": "Website"})
    task = Task.objects.get(lead=template, completed_at__isnull=True)
    note = Activity.objects.filter(lead=template).first()
    day = "interval '1 day'"
    created = f"(now() - (g % 365) * {day} - (g % 1440) * interval '1 minute')"
    # the stage follows g / 7, so that every agent (g % AGENTS) has leads in every stage
    stage = ("(CASE (g / 7) % 10 WHEN 0 THEN 'closed' WHEN 1 THEN 'lost' WHEN 2 THEN 'new' "
             "WHEN 3 THEN 'appointment' WHEN 4 THEN 'agreement' ELSE 'contacted' END)")
    others_array = "ARRAY[" + ",".join(str(int(pk)) for pk in others) + "]::bigint[]"
    with connection.cursor() as cursor:
        _copy_rows(cursor, Lead, template_id=template.pk,
                   source=f"CROSS JOIN generate_series(1, {count - 1}) g", overrides={
            "agent_id": f"(CASE WHEN g % {AGENTS} = 0 THEN {int(agent.pk)} "
                        f"ELSE ({others_array})[1 + g % {len(others)}] END)",
            "first_name": "'Lead'", "last_name": "g::text",
            "email": "'lead' || g || '@bench.test'",
            "phone": "'+1555' || lpad((g % 10000000)::text, 7, '0')",
            "source_name": "(ARRAY['Zillow', 'Realtor.com', 'Website'])[1 + g % 3]",
            "created_at": created, "last_inquiry_at": created, "stage_changed_at": created,
            "stage": stage, "cost_cents": "2500",
            "first_touch_at": f"(CASE WHEN (g / 7) % 10 = 2 THEN NULL "
                              f"ELSE {created} + interval '7 minutes' END)",
            "touch_count": "(CASE WHEN (g / 7) % 10 = 2 THEN 0 ELSE 1 + g % 6 END)",
            "last_touch_at": f"(CASE WHEN (g / 7) % 10 = 2 THEN NULL "
                             f"ELSE {created} + interval '2 days' END)",
            "closed_at": f"(CASE WHEN (g / 7) % 10 = 0 THEN {created} + interval '60 days' END)",
            "sale_price_cents": "(CASE WHEN (g / 7) % 10 = 0 THEN 45000000 END)",
            "commission_cents": "(CASE WHEN (g / 7) % 10 = 0 THEN 1125000 END)",
            "unsubscribe_token": "md5(g::text)", "inbound_lead_id": "NULL",
        })
        # one open call task per open lead: overdue, due today, later
        _copy_rows(cursor, Task, template_id=task.pk,
                   source="CROSS JOIN crm_lead l",
                   where=f"l.id <> {template.pk} AND l.stage IN {OPEN}", overrides={
            "lead_id": "l.id", "agent_id": "l.agent_id", "channel": "'call'",
            "title": "'Call'", "step_id": "NULL", "created_at": "l.created_at",
            "due_at": f"(CASE l.id % 3 WHEN 0 THEN now() - (1 + l.id % 30) * {day} "
                      "WHEN 1 THEN date_trunc('day', now()) + interval '23 hours' "
                      f"ELSE now() + (1 + l.id % 30) * {day} END)",
        })
        _copy_rows(cursor, Activity, template_id=note.pk,
                   source="CROSS JOIN crm_lead l CROSS JOIN generate_series(1, 3) k",
                   where=f"l.id <> {template.pk}", overrides={
            "lead_id": "l.id", "by_id": "l.agent_id", "inbound_lead_id": "NULL",
            "kind": "(ARRAY['call', 'text', 'note'])[k]",
            "outcome": "(ARRAY['no_answer', 'replied', ''])[k]",
            "note": "(ARRAY['', '', 'Wants a 3-bed near the school.'])[k]",
            "created_at": "l.created_at + k * interval '1 hour'", "task_id": "NULL",
        })
        cursor.execute(
            "INSERT INTO crm_stagechange (lead_id, from_stage, to_stage, by_id, reason, "
            "sale_price_cents, commission_cents, created_at) "
            "SELECT id, 'new', stage, agent_id, '', sale_price_cents, commission_cents, "
            "created_at + interval '3 days' FROM crm_lead WHERE stage <> 'new'")
        # VACUUM too, as autovacuum leaves a table whose rows were written over a year: with
        # the visibility map set, Today's counts read their indexes alone (index-only scans);
        # just after a bulk load they would read every heap page of the agent's leads.
        cursor.execute("VACUUM ANALYZE")


def _drop(brokerages: list[Brokerage]) -> None:
    with connection.cursor() as cursor:
        for brokerage in brokerages:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{brokerage.schema_name}" CASCADE')
    ids = [b.pk for b in brokerages]
    users = list(Seat.objects.filter(brokerage_id__in=ids).values_list("user_id", flat=True))
    Brokerage.objects.filter(pk__in=ids).delete()
    User.objects.filter(pk__in=users).delete()


# --- the pages, a touch, the report ----------------------------------------------------------
class _Counted:
    """Counts the queries run inside it (a request resets connection.queries, so Django's
    CaptureQueriesContext cannot count across one)."""

    def __enter__(self):
        self.count = 0
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)

    def __len__(self):
        return self.count


def _page(setup: Brokerage_, path: str, runs: int, *, admin: bool = False
          ) -> tuple[list[float], int]:
    client = Client(HTTP_HOST=setup.host)
    client.force_login((setup.admin_seat if admin else setup.agent).user)

    def get():
        answer = client.get(path, secure=True)
        assert answer.status_code == 200, (path, answer.status_code)

    get()  # warm: templates compiled, session cached
    with _Counted() as captured:
        get()
    timings = time_runs(get, runs=runs)
    connection.set_schema_to_public()  # the tenant middleware left the brokerage's
    return timings, len(captured)


def _log_activity(setup: Brokerage_, runs: int) -> tuple[list[float], int]:
    with in_schema(setup.brokerage.schema_name):
        def touch():
            services.log_activity(lead=setup.lead, by=setup.agent, kind="call",
                                  outcome="no_answer", note="Bench call.")
        touch()
        with _Counted() as captured:
            touch()
        return time_runs(touch, runs=runs), len(captured)


def _today_selector(setup: Brokerage_, runs: int) -> tuple[list[float], int]:
    """The Today page's reads alone (selectors_pages.today_for), without the request."""
    with in_schema(setup.brokerage.schema_name):
        def read():
            pages.today_for(agent=setup.agent, now=timezone.now())
        read()
        with _Counted() as captured:
            read()
        return time_runs(read, runs=runs), len(captured)


def _report(setup: Brokerage_, agent_id: int | None, runs: int
            ) -> tuple[list[float], int, dict[str, float]]:
    """The whole report's timings and query count, and the median ms of each of its parts."""
    now = timezone.now()
    since = now - dt.timedelta(days=365)
    brokerage = setup.brokerage
    parts = {
        "lead_figures": lambda: reports.lead_figures(agent_id=agent_id, since=since),
        "roi_by_territory": lambda: reports.roi_by_territory(
            brokerage=brokerage, agent_id=agent_id, since=since, now=now),
        "roi_by_source": lambda: reports.roi_by_source(agent_id=agent_id, since=since),
    }
    if agent_id is None:
        parts["by_agent"] = lambda: reports.by_agent(brokerage=brokerage, since=since)
    with in_schema(brokerage.schema_name):
        def report():
            reports.follow_up_report(brokerage=brokerage, agent_id=agent_id,
                                     since=since, now=now, per_agent=agent_id is None)
        report()
        with _Counted() as captured:
            report()
        timings = time_runs(report, runs=runs)
        part_ms = {name: round(statistics.median(time_runs(part, runs=runs)), 2)
                   for name, part in parts.items()}
        return timings, len(captured), part_ms


def _team_home(setup: Brokerage_, runs: int) -> tuple[list[float], int, dict[str, float]]:
    """GET / as the admin (the team's week), and reports.team_week alone as its part."""
    timings, queries = _page(setup, "/", runs, admin=True)
    with in_schema(setup.brokerage.schema_name):
        week = time_runs(lambda: reports.team_week(brokerage=setup.brokerage,
                                                   now=timezone.now()), runs=runs)
    return timings, queries, {"team_week": round(statistics.median(week), 2)}


# --- one added column across many brokerages -------------------------------------------------
MIGRATION = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "{previous}")]
    operations = [migrations.AddField("lead", "bench_added",
                                      models.CharField(max_length=40, null=True))]
'''


class _AddedColumn:
    """The crm app's migrations plus one adding a column, as a package of its own that
    MIGRATION_MODULES points to (the source tree is left alone)."""

    def __enter__(self):
        from django.db.migrations.loader import MigrationLoader

        import clozings.crm.migrations as crm_migrations

        source = Path(crm_migrations.__file__).parent
        self.root = Path(tempfile.mkdtemp(prefix="bench-crm-migrations-"))
        package = self.root / "bench_crm_migrations"
        shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
        leaves = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("crm")
        self.previous = leaves[0][1]
        (package / f"{BENCH_MIGRATION}.py").write_text(MIGRATION.format(previous=self.previous))
        sys.path.insert(0, str(self.root))
        self.saved = dict(getattr(settings, "MIGRATION_MODULES", {}) or {})
        settings.MIGRATION_MODULES = {**self.saved, "crm": "bench_crm_migrations"}
        provisioning._graph_nodes.cache_clear()
        return self

    def __exit__(self, *exc):
        settings.MIGRATION_MODULES = self.saved
        provisioning._graph_nodes.cache_clear()
        provisioning.forget_clone_plans()
        sys.path.remove(str(self.root))
        for name in [m for m in sys.modules if m.startswith("bench_crm_migrations")]:
            del sys.modules[name]
        shutil.rmtree(self.root, ignore_errors=True)


def _migrate(*args, **options) -> str:
    """The command's output (django-tenants writes some of it to sys.stdout, which must
    hold nothing but the JSON lines)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call_command("migrate_schemas", *args, interactive=False, verbosity=1, stdout=out,
                     **options)
    connection.set_schema_to_public()
    return out.getvalue()


def _added_column_figures(context: BenchContext, one_schema: str) -> list[dict]:
    admin = User.objects.create_user("admin@crm-migrate.bench", None, name="Bench Admin")
    before = set(Brokerage.objects.values_list("pk", flat=True))
    have = len(before)
    if MIGRATE_BROKERAGES > have:
        context.progress(f"crm: adding brokerages up to {MIGRATE_BROKERAGES}")
        add_brokerages(context, count=MIGRATE_BROKERAGES - have, admin=admin)
    present = Brokerage.objects.count()
    made = list(Brokerage.objects.exclude(pk__in=before))
    try:
        with _AddedColumn() as added:
            context.progress("crm: one added column on one schema")
            one = figure("crm_migrate_add_column_one_schema", time_runs(
                lambda: _migrate(schema_name=one_schema), runs=context.runs,
                after=lambda: _migrate("crm", added.previous, schema_name=one_schema)),
                brokerages=1, load_avg=_load())
            context.progress(f"crm: one added column across {present} brokerages (once)")
            output: list[str] = []
            across = time_runs(lambda: output.append(_migrate()), runs=1)
            lines = [line for line in output[0].splitlines()
                     if line.startswith("migrate_schemas: ") and "/" in line.split()[1]]
            assert len(lines) == present, output[0][-2000:]
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM information_schema.columns "
                               "WHERE table_name = 'crm_lead' AND column_name = 'bench_added'")
                (columns,) = cursor.fetchone()
            assert columns == present + 1, (columns, present)  # and the template
            many = figure("crm_migrate_add_column", across, brokerages=present,
                          baseline=one, target_ms=TARGET_MIGRATE_MS,
                          progress_lines=len(lines), last_progress_line=lines[-1],
                          load_avg=_load())
    finally:
        context.progress(f"crm: dropping the {len(made)} brokerages made for the migration")
        _drop(made)
        admin.delete()
    return [one, many]


def run(context: BenchContext) -> list[dict]:
    runs = context.runs
    results = []
    context.progress(f"crm: a brokerage with {SMALL_LEADS} leads")
    small = Brokerage_("crm-small", SMALL_LEADS)
    if MIGRATE_ONLY:
        try:
            return _added_column_figures(context, small.brokerage.schema_name)
        finally:
            _drop([small.brokerage])
    context.progress(f"crm: a brokerage with {CRM_LEADS} leads")
    big = Brokerage_("crm-big", CRM_LEADS)
    try:
        for bench, path in (("crm_today_page", lambda s: "/today/"),
                            ("crm_lead_page", lambda s: f"/leads/{s.lead.pk}/")):
            context.progress(f"crm: {bench}")
            small_ms, small_queries = _page(small, path(small), runs)
            big_ms, big_queries = _page(big, path(big), runs)
            base = figure(bench, small_ms, leads=SMALL_LEADS, queries=small_queries,
                          load_avg=_load())
            results += [base, figure(bench, big_ms, baseline=base, leads=CRM_LEADS,
                                     agent_leads=CRM_LEADS // AGENTS, queries=big_queries,
                                     same_queries=big_queries == small_queries,
                                     target_ms=TARGET_PAGE_MS, load_avg=_load())]
        context.progress("crm: crm_today_selector")
        small_ms, small_queries = _today_selector(small, runs)
        big_ms, big_queries = _today_selector(big, runs)
        base = figure("crm_today_selector", small_ms, leads=SMALL_LEADS, queries=small_queries,
                      load_avg=_load())
        results += [base, figure("crm_today_selector", big_ms, baseline=base, leads=CRM_LEADS,
                                 agent_leads=CRM_LEADS // AGENTS, queries=big_queries,
                                 load_avg=_load())]
        context.progress("crm: log_activity")
        small_ms, small_queries = _log_activity(small, runs)
        big_ms, big_queries = _log_activity(big, runs)
        base = figure("crm_log_activity", small_ms, leads=SMALL_LEADS, queries=small_queries,
                      load_avg=_load())
        results += [base, figure("crm_log_activity", big_ms, baseline=base, leads=CRM_LEADS,
                                 queries=big_queries, load_avg=_load())]
        for bench, who in (("crm_follow_up_report_team", None),
                           ("crm_follow_up_report_agent", "agent")):
            context.progress(f"crm: {bench}")
            small_ms, small_queries, small_parts = _report(small, who and small.agent.pk, runs)
            big_ms, big_queries, big_parts = _report(big, who and big.agent.pk, runs)
            base = figure(bench, small_ms, leads=SMALL_LEADS, queries=small_queries,
                          days=365, parts_ms=small_parts, load_avg=_load())
            results += [base, figure(bench, big_ms, baseline=base, leads=CRM_LEADS,
                                     queries=big_queries, days=365, parts_ms=big_parts,
                                     same_queries=big_queries == small_queries,
                                     target_ms=TARGET_REPORT_MS[bench], load_avg=_load())]
        context.progress("crm: crm_team_home")
        small_ms, small_queries, small_parts = _team_home(small, runs)
        big_ms, big_queries, big_parts = _team_home(big, runs)
        base = figure("crm_team_home", small_ms, leads=SMALL_LEADS, queries=small_queries,
                      parts_ms=small_parts, load_avg=_load())
        results += [base, figure("crm_team_home", big_ms, baseline=base, leads=CRM_LEADS,
                                 queries=big_queries, parts_ms=big_parts,
                                 same_queries=big_queries == small_queries,
                                 target_ms=TARGET_TEAM_HOME_MS, load_avg=_load())]
        results += _added_column_figures(context, small.brokerage.schema_name)
    finally:
        _drop([small.brokerage, big.brokerage])
    return results
