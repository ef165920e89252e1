"""
The performance suite: seed a synthetic site of N pages (bench/site.py) into the ingest
stand-in through a real django-q2 cluster, and print one table.

    python bench/suite.py [--pages 10000] [--latency 0.03] [--rate-limit 25] [--postgres]

For each size (N, then N x --memory-factor) it builds the site on a fresh database and
measures:

- mapping only (at N): every page mapped in batches, as a worker does, nothing sent (one
  core), with its queries per page; with ``--mapping-baseline REF`` the same, alternating,
  by the code at git REF (e.g. ``main``) on the same database, for a before/after in one run;
- seed to synced: ``manage.py enterspeed_seed`` in its own process, a cluster of
  ``--workers`` workers processing, until the stand-in holds every page and no job is left;
- the CPU seconds the cluster, the PostgreSQL server, the seed process and this process
  (the stand-in) used meanwhile, and what share of the cores that is;
- peak memory (VmHWM) of the seed process and of the busiest cluster worker.

Then, on the N-page site, the time an editor's publish takes (a POST of the page editor's
Publish button) with the app's signal receivers connected and without them, alternating;
and freshness (bench/freshness.py): editors' publishes during a whole-site seed, from
commit to accepted, with priority lanes and without. ``--freshness-only`` measures just that.

The realistic site (bench/realistic.py: images with renditions, snippets, many-to-many,
inline children, reverse relations, chooser blocks, two locales) is measured the same way
at ``--realistic-pages`` (default N; 0 leaves it out), mapping only and seed to synced, and
printed beside the synthetic site's figures.

The stand-in answers every request after ``--latency`` seconds and refuses requests over
``--rate-limit`` per second with a 429, as Enterspeed's tenant limit does; the app is
configured with the same ``RATE_LIMIT``. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Enterspeed's documented tenant limit, and its bulk size.
ANCHOR_RATE = 25.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--memory-factor", type=int, default=5, help="second size = N x this")
    parser.add_argument("--latency", type=float, default=0.03, help="stand-in delay (s)")
    parser.add_argument("--rate-limit", type=float, default=ANCHOR_RATE, help="requests/s")
    parser.add_argument("--workers", type=int, default=2, help="cluster workers")
    parser.add_argument("--publishes", type=int, default=40, help="editor publishes to time")
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL")
    parser.add_argument(
        "--editor-publishes", type=int, default=20, help="publishes during the seed (freshness)"
    )
    parser.add_argument(
        "--editor-interval", type=float, default=0.75, help="seconds between those publishes"
    )
    parser.add_argument("--freshness-only", action="store_true", help="measure only freshness")
    parser.add_argument(
        "--mapping-baseline",
        metavar="REF",
        help="also map with the code at this git ref (before/after, same site, alternating)",
    )
    parser.add_argument("--mapping-rounds", type=int, default=3, help="mapping runs per code")
    parser.add_argument(
        "--mapping-only", action="store_true", help="build the N-page site, measure mapping, stop"
    )
    parser.add_argument(
        "--realistic-pages",
        type=int,
        help="pages of the realistic site (bench/realistic.py), measured beside the synthetic "
        "one; default N, 0 to leave it out",
    )
    args = parser.parse_args()

    if args.postgres:
        from tests.__main__ import PG_HOST, PG_USER, postgres_binaries, throwaway_postgres

        with throwaway_postgres(postgres_binaries()) as port:
            os.environ.update(
                ENTERSPEED_TEST_DB="postgres",
                ENTERSPEED_TEST_PG_HOST=PG_HOST,
                ENTERSPEED_TEST_PG_PORT=str(port),
                ENTERSPEED_TEST_PG_USER=PG_USER,
            )
            with tempfile.TemporaryDirectory(prefix="enterspeed-bench-") as folder:
                os.environ["ENTERSPEED_TEST_SQLITE_DIR"] = folder  # media files
                run(args)
    else:
        with tempfile.TemporaryDirectory(prefix="enterspeed-bench-") as folder:
            os.environ["ENTERSPEED_TEST_SQLITE_DIR"] = folder
            run(args)


def run(args) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ENTERSPEED_TEST_Q_SYNC"] = "1"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from enterspeed_sync.testing import IngestStandIn

    setup_test_environment()
    if args.freshness_only:
        run_freshness(args)
        return
    rows = []
    publish = freshness = realistic = None
    if args.realistic_pages is None:
        args.realistic_pages = args.pages
    if args.mapping_only:
        for site, size in sites(args):
            old_name = connection.creation.create_test_db(verbosity=0)
            try:
                measure_mapping_only(args, site, size)
            finally:
                connection.close()
                connection.creation.destroy_test_db(old_name, verbosity=0)
        return
    if args.realistic_pages:
        old_name = connection.creation.create_test_db(verbosity=0)
        try:
            with IngestStandIn(api_keys=["source-bench"]) as standin:
                standin.latency = args.latency
                standin.rate_limit = args.rate_limit
                realistic = measure_size(args, args.realistic_pages, standin, site="realistic")
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
        print_row(realistic)
    for size in (args.pages, args.pages * args.memory_factor):
        old_name = connection.creation.create_test_db(verbosity=0)
        try:
            with IngestStandIn(api_keys=["source-bench"]) as standin:
                standin.latency = args.latency
                standin.rate_limit = args.rate_limit
                # Mapping only is measured on the first size: it is per page, and the
                # larger size is there for memory.
                rows.append(measure_size(args, size, standin, mapping=not rows))
                if publish is None:
                    from bench.freshness import measure_freshness

                    publish = measure_publish(args, standin)
                    freshness = measure_freshness(
                        args, standin, rows[-1]["entities"], cluster_env, cluster_overrides(args)
                    )
        finally:
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)
        print_row(rows[-1])
    print_table(args, rows, publish, connection.vendor, realistic)
    print_freshness(freshness)


def sites(args) -> list[tuple[str, int]]:
    """The sites measured: the synthetic one, and the realistic one unless left out."""
    found = [("synthetic", args.pages)]
    if args.realistic_pages:
        found.append(("realistic", args.realistic_pages))
    return found


def build(site: str, size: int) -> dict[str, int]:
    from bench.realistic import build_realistic_site
    from bench.site import build_site

    return (build_realistic_site if site == "realistic" else build_site)(size)


def run_freshness(args) -> None:
    from django.db import connection

    from bench.freshness import measure_freshness
    from bench.site import build_site
    from enterspeed_sync.testing import IngestStandIn

    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        with IngestStandIn(api_keys=["source-bench"]) as standin:
            standin.rate_limit = args.rate_limit
            counts = build_site(args.pages)
            print(f"built {counts['pages']:,} pages", flush=True)
            entities = counts["pages"] + counts["images"]
            freshness = measure_freshness(
                args, standin, entities, cluster_env, cluster_overrides(args)
            )
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(
        f"\n{connection.vendor}, {args.workers} cluster workers, {os.cpu_count()} cores, "
        f"{args.latency * 1000:.0f} ms latency, {args.rate_limit:g} requests/s, "
        f"{args.pages:,} pages seeded"
    )
    print_freshness(freshness)


def print_freshness(freshness: dict) -> None:
    from bench.freshness import summary

    print()
    for mode, label in (("lanes", "with priority lanes"), ("fifo", "without (oldest first)")):
        print(f"editor's change during the seed, {label:<24}  {summary(freshness[mode])}")


def cluster_overrides(args) -> dict:
    return {
        "API_KEY": "source-bench",
        "RATE_LIMIT": args.rate_limit,
        "TIMEOUT": [2, 10],
        "LEASE_SECONDS": 60,
    }


def measure_size(
    args, size: int, standin, *, mapping: bool = True, site: str = "synthetic"
) -> dict:
    """
    Seed to synced and peak memory at ``size`` pages of the ``site`` (synthetic or
    realistic); mapping only too when ``mapping``.
    """
    from django.db import connection

    from enterspeed_sync.models import EnterspeedJob

    started = time.perf_counter()
    counts = build(site, size)
    entities = counts["pages"] + counts["images"]
    print(
        f"built {counts['pages']:,} pages of the {site} site in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    connection.close()  # the mapping runs, the cluster and the seed process open their own
    if mapping:
        mapped = measure_mapping(args)
        print_mapping(mapped)

    from tests.qcluster import running_qcluster, wait_until, worker_pids

    overrides = cluster_overrides(args)
    env = cluster_env(standin.url, args.workers, overrides)
    log = Path(os.environ.get("ENTERSPEED_BENCH_LOG") or Path(tempfile.gettempdir()) / "bench.log")
    with running_qcluster(standin.url, log, workers=args.workers, sync_overrides=overrides) as q:
        time.sleep(2)  # the cluster's workers are up
        peaks_before = {pid: vm_hwm(pid) for pid in worker_pids(q)}
        cpu_before = cpu_now(worker_pids(q))
        started = time.perf_counter()
        seed = subprocess.run(
            [sys.executable, "-c", SEED_AND_REPORT_PEAK],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seed_seconds = time.perf_counter() - started
        seed_rss_kb = int(seed.stdout.split()[-1])
        synced = wait_until(
            lambda: standin.entity_count() >= entities and not EnterspeedJob.objects.exists(),
            timeout=3600,
            interval=0.1,
        )
        wall = time.perf_counter() - started
        cpu_after = cpu_now(worker_pids(q))
        cpu = {name: seconds - cpu_before[name] for name, seconds in cpu_after.items()}
        worker_peak_kb = max((vm_hwm(pid) for pid in worker_pids(q)), default=0)
    left = EnterspeedJob.objects.count()
    connection.close()
    return {
        "site": site,
        "pages": counts["pages"],
        "entities": entities,
        "synced": synced and left == 0,
        "wall": wall,
        "seed_seconds": seed_seconds,
        "rate": entities / wall,
        "mapping": mapped if mapping else None,
        "requests": len(standin.requests),
        "throttled": standin.faults["rate_limit"],
        "seed_rss_mb": seed_rss_kb / 1024,
        "worker_rss_mb": worker_peak_kb / 1024,
        "workers_before_mb": max(peaks_before.values(), default=0) / 1024,
        "cpu": cpu,
    }


def cpu_now(cluster_pids: list[int]) -> dict[str, float]:
    """
    CPU seconds used so far by the cluster's processes, the PostgreSQL server (none on
    SQLite), the processes this one started and waited for (the seed), and this process
    (the stand-in's threads), each with the children it waited for.
    """
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return {
        "cluster": sum(process_cpu(pid) for pid in cluster_pids),
        "database": sum(process_cpu(pid) for pid in postgres_pids()),
        "seed": children.ru_utime + children.ru_stime,
        "stand-in": own.ru_utime + own.ru_stime,
    }


def process_cpu(pid: int) -> float:
    """User and system CPU seconds of a process and of its children it waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/comm"):
        try:
            if status.read_text().strip() == "postgres":
                pids.append(int(status.parent.name))
        except OSError:
            pass
    return pids


#: The seed, as ``manage.py enterspeed_seed`` runs it, in a process of its own that then
#: prints its peak resident memory (VmHWM, kB). Not the rusage of the child: on Linux a
#: child's ru_maxrss starts at its parent's when it forks, so it would show the benchmark's
#: own memory, which grows with the site it built.
SEED_AND_REPORT_PEAK = """
import django
django.setup()
from django.core.management import call_command
call_command("enterspeed_seed", "--kind", "pages", "--kind", "images", skip_checks=True)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(line.split()[1])
"""


def measure_mapping_only(args, site: str, size: int) -> None:
    from django.db import connection

    counts = build(site, size)
    connection.close()
    print(f"built {counts['pages']:,} pages of the {site} site ({connection.vendor})", flush=True)
    print_mapping(measure_mapping(args))


def measure_mapping(args) -> dict:
    """
    Pages per second and queries per page, mapped the way a worker maps them (in batches,
    nothing sent), each run in a fresh process on the site just built: ``--mapping-rounds``
    runs of this code, alternating with runs of the code at ``--mapping-baseline`` when
    given. The best run of each counts (the machine's other load only slows runs down).
    """
    trees = {"after": ROOT}
    with tempfile.TemporaryDirectory(prefix="enterspeed-baseline-") as folder:
        if args.mapping_baseline:
            trees["before"] = export_tree(args.mapping_baseline, Path(folder))
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _round in range(args.mapping_rounds):
            for name, tree in trees.items():
                runs[name].append(map_once(tree))
    return {name: max(found, key=lambda run: run["cpu_rate"]) for name, found in runs.items()}


def export_tree(ref: str, folder: Path) -> Path:
    """The repository's files at git ``ref``, written to ``folder``."""
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def map_once(tree: Path) -> dict:
    """One mapping-only run by the code in ``tree`` (its own bench/suite.py), in a process."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",  # the database just built
        "ENTERSPEED_TEST_STANDIN_URL": "http://127.0.0.1:9",  # nothing is sent
        "PYTHONPATH": str(tree),
    }
    done = subprocess.run(
        [sys.executable, "-c", MAP_AND_REPORT],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rate, cpu, queries, pages, module = done.stdout.split()[-5:]
    if not module.startswith(str(tree)):
        raise RuntimeError(f"mapping ran {module}, not the code in {tree}")
    return {
        "rate": float(rate),
        "cpu_rate": int(pages) / float(cpu),
        "queries_per_page": int(queries) / int(pages),
    }


#: One mapping-only run (``measure_mapping_in_process`` of the tree it runs in, or the
#: ``measure_mapping`` of a tree from before it was renamed), then the queries of a second
#: run. Prints: pages/s (wall clock), CPU seconds, queries, pages, the enterspeed_sync it
#: imported. CPU time is what "per core" means, and other load on the machine barely moves it.
MAP_AND_REPORT = """
import time
import django
django.setup()
from django.db import connection
from django.test.utils import CaptureQueriesContext
import bench.suite as suite
import enterspeed_sync
from enterspeed_sync.capture.seeding import published_specs
run = getattr(suite, "measure_mapping_in_process", None) or suite.measure_mapping
cpu = time.process_time()
rate = run(None)
cpu = time.process_time() - cpu
with CaptureQueriesContext(connection) as queries:
    run(None)
pages = sum(1 for _ in published_specs(kinds=["pages"]))
print(rate, cpu, len(queries.captured_queries), pages, enterspeed_sync.__file__)
"""


def measure_mapping_in_process(args) -> float:
    """Pages per second mapped the way a worker maps them, in batches, nothing sent."""
    from enterspeed_sync.capture.seeding import published_specs
    from enterspeed_sync.conf import conf
    from enterspeed_sync.handlers import get_handlers, prepare_batch
    from enterspeed_sync.mapping.batch import mapping_batch

    def prepare_failed(handler, jobs, exc):
        raise exc

    handlers = get_handlers()
    jobs = [spec.as_job(pk=n) for n, (_kind, spec) in enumerate(published_specs(kinds=["pages"]))]
    size = conf.BATCH_SIZE
    started = time.perf_counter()
    for start in range(0, len(jobs), size):
        batch = jobs[start : start + size]
        with mapping_batch():
            found = prepare_batch(batch, handlers, on_error=prepare_failed)
            for job, handler in zip(batch, found, strict=True):
                handler.operations(job)
    return len(jobs) / (time.perf_counter() - started)


def measure_publish(args, standin) -> dict:
    """Median time of the page editor's Publish with and without the app's receivers."""
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import reverse
    from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text

    from enterspeed_sync.capture.receivers import (
        register_signal_handlers,
        unregister_signal_handlers,
    )
    from tests.testapp.models import BlogPage

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    page = BlogPage.objects.order_by("pk").first()
    url = reverse("wagtailadmin_pages:edit", args=[page.pk])

    def publish(n: int) -> float:
        data = nested_form_data(
            {
                "title": f"Edited {n}",
                "slug": page.slug,
                "body": rich_text(f"<p>Edited body {n}</p>"),
                "content": stream_form_data(page),
                "comments": inline_formset([]),
                "action-publish": "publish",
            }
        )
        started = time.perf_counter()
        response = client.post(url, data)
        seconds = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"publish failed: HTTP {response.status_code}")
        return seconds

    sync = {"API_KEY": "source-bench", "BASE_URL": standin.url}
    with_app, without_app = [], []
    # The cluster is not running: the job and django-q2 task rows are written, as in
    # production, and processed by nobody while we time.
    with override_settings(ENTERSPEED_SYNC=sync):
        from django_q.conf import Conf

        sync_mode, Conf.SYNC = Conf.SYNC, False
        try:
            for n in range(4):  # warm up both paths
                publish(n)
            for n in range(args.publishes):
                unregister_signal_handlers()
                without_app.append(publish(2 * n))
                register_signal_handlers()
                with_app.append(publish(2 * n + 1))
        finally:
            Conf.SYNC = sync_mode
            register_signal_handlers()
    return {
        "without": statistics.median(without_app),
        "with": statistics.median(with_app),
    }


def stream_form_data(page):
    from wagtail.test.utils.form_data import rich_text, streamfield

    blocks = []
    for child in page.content:
        if child.block_type == "heading":
            blocks.append(("heading", child.value))
        elif child.block_type == "paragraph":
            blocks.append(("paragraph", rich_text(child.value.source)))
        elif child.block_type == "image":
            blocks.append(("image", child.value.pk))
        elif child.block_type == "quote":
            blocks.append(("quote", {"text": child.value["text"], "author": "Someone"}))
    return streamfield(blocks)


def cluster_env(standin_url: str, workers: int, overrides: dict) -> dict:
    import json

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",
        "ENTERSPEED_TEST_STANDIN_URL": standin_url,
        "ENTERSPEED_TEST_Q_WORKERS": str(workers),
        "ENTERSPEED_TEST_SYNC_OVERRIDES": json.dumps(overrides),
        "PYTHONPATH": str(ROOT),
    }


def vm_hwm(pid: int) -> int:
    """Peak resident memory of a process, in kB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def print_mapping(mapping: dict) -> None:
    for name in ("before", "after"):
        if name in mapping:
            run = mapping[name]
            print(
                f"  mapping only, {name}: {run['cpu_rate']:,.0f} pages per CPU second "
                f"({run['rate']:,.0f}/s wall clock), "
                f"{run['queries_per_page']:.2f} queries per page",
                flush=True,
            )


def print_row(row: dict) -> None:
    print(
        f"  {row['pages']:,} pages ({row['site']}): synced={row['synced']} in {row['wall']:.1f} s "
        f"({row['rate']:,.0f}/s), seed process {row['seed_seconds']:.1f} s, "
        f"{row['requests']} requests, {row['throttled']} refused by the rate limit",
        flush=True,
    )
    print(f"    CPU seconds: {cpu_line(row['cpu'], row['wall'])}", flush=True)


def cpu_line(cpu: dict[str, float], wall: float) -> str:
    used = sum(cpu.values())
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    return f"{parts}; {used / (wall * os.cpu_count()) * 100:.0f} % of {os.cpu_count()} cores"


def mapping_lines(args, mapping: dict) -> list[tuple[str, str]]:
    """The mapping-only lines: queries per page, and the baseline's figures when measured."""
    after = mapping["after"]
    lines = [("mapping queries per page", f"{after['queries_per_page']:.2f}")]
    if before := mapping.get("before"):
        lines.append(
            (
                f"mapping at {args.mapping_baseline}",
                f"{before['cpu_rate']:,.0f} entities/s, {before['queries_per_page']:.2f} queries "
                f"per page; now {after['cpu_rate'] / before['cpu_rate']:.2f}x",
            )
        )
    return lines


def realistic_lines(args, row: dict) -> list[tuple[str, str]]:
    """The realistic site's lines, beside the synthetic site's."""
    mapping = row["mapping"]
    after = mapping["after"]
    lines = [
        (
            "realistic: seed to synced",
            f"{row['entities']:,} entities in {row['wall']:.1f} s ({row['rate']:,.0f}/s), "
            f"{row['requests']} requests ({row['throttled']} refused with 429)",
        ),
        ("realistic: CPU seconds", cpu_line(row["cpu"], row["wall"])),
        (
            "realistic: mapping only",
            f"{after['cpu_rate']:,.0f} pages per CPU second ({after['rate']:,.0f}/s wall clock), "
            f"{after['queries_per_page']:.2f} queries per page",
        ),
    ]
    if before := mapping.get("before"):
        lines.append(
            (
                f"realistic: mapping at {args.mapping_baseline}",
                f"{before['cpu_rate']:,.0f} pages per CPU second, "
                f"{before['queries_per_page']:.2f} queries per page; "
                f"now {after['cpu_rate'] / before['cpu_rate']:.2f}x",
            )
        )
    return lines


def print_table(args, rows: list[dict], publish: dict, vendor: str, realistic=None) -> None:
    small, large = rows[0], rows[-1]
    anchor_seconds = small["entities"] / ANCHOR_RATE
    overhead = (publish["with"] / publish["without"] - 1) * 100
    mapping_rate = small["mapping"]["after"]["cpu_rate"]
    efficiency = small["rate"] / mapping_rate * 100

    def peak(row):
        return max(row["seed_rss_mb"], row["worker_rss_mb"])

    lines = [
        ("database", f"{vendor}, {args.workers} cluster workers, {os.cpu_count()} cores"),
        ("stand-in", f"{args.latency * 1000:.0f} ms latency, {args.rate_limit:g} requests/s"),
        ("seed to synced", f"{small['entities']:,} entities in {small['wall']:.1f} s"),
        ("CPU seconds in it", cpu_line(small["cpu"], small["wall"])),
        ("throughput", f"{small['rate']:,.0f} entities/s"),
        ("mapping only (1 core)", f"{mapping_rate:,.0f} entities/s"),
        *mapping_lines(args, small["mapping"]),
        ("pipeline efficiency", f"{efficiency:.0f} % (end-to-end / mapping only)"),
        (
            "anchor ceiling",
            f"{ANCHOR_RATE:g} entities/s = {anchor_seconds:,.0f} s; ours is "
            f"{small['rate'] / ANCHOR_RATE:.1f}x",
        ),
        ("requests sent", f"{small['requests']:,} ({small['throttled']} refused with 429)"),
        (
            "editor publish",
            f"{publish['without'] * 1000:.1f} ms without the app, "
            f"{publish['with'] * 1000:.1f} ms with it ({overhead:+.1f} %)",
        ),
        (
            f"peak memory at N={small['pages']:,}",
            f"{peak(small):.0f} MB (seed {small['seed_rss_mb']:.0f}, "
            f"worker {small['worker_rss_mb']:.0f})",
        ),
        (
            f"peak memory at {args.memory_factor}N={large['pages']:,}",
            f"{peak(large):.0f} MB (seed {large['seed_rss_mb']:.0f}, "
            f"worker {large['worker_rss_mb']:.0f}), {(peak(large) / peak(small) - 1) * 100:+.1f} %",
        ),
        (
            f"seed to synced at {args.memory_factor}N",
            f"{large['entities']:,} entities in {large['wall']:.1f} s ({large['rate']:,.0f}/s)",
        ),
    ]
    if realistic is not None:
        lines += realistic_lines(args, realistic)
    width = max(len(name) for name, _ in lines)
    print()
    for name, value in lines:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
