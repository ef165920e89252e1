"""Starting and stopping real `qcluster` processes for the cluster tests."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_qcluster(standin_url, log_path, *, workers=2, sync_overrides=None, redis_url=""):
    """
    A `qcluster` subprocess on the test database, sending to ``standin_url`` (on django-q2's
    Redis broker at ``redis_url`` if given, else the ORM broker). On exit it is stopped the
    way production should stop it: SIGTERM to the main process only.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",
        "ENTERSPEED_TEST_STANDIN_URL": standin_url,
        "ENTERSPEED_TEST_Q_WORKERS": str(workers),
        "ENTERSPEED_TEST_SYNC_OVERRIDES": json.dumps(sync_overrides or {}),
        "ENTERSPEED_TEST_Q_REDIS": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    log = Path(log_path).open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = Path(log_path)
    try:
        yield process
    finally:
        log.close()
        stop_qcluster(process)


def stop_qcluster(process, timeout=30):
    """SIGTERM to the main process only: django-q2 then finishes its tasks and stops."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - diagnostic path
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_pids(process):
    """The pids of the cluster's processes below its main process (sentinel, workers, …)."""
    children = []
    for task_dir in Path("/proc").iterdir():
        if not task_dir.name.isdigit():
            continue
        try:
            stat = (task_dir / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.append((int(task_dir.name), ppid))
    descendants, frontier = [], {process.pid}
    while frontier:
        found = {pid for pid, ppid in children if ppid in frontier}
        descendants += sorted(found)
        frontier = found
    return descendants


def wait_until(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def log_tail(process, chars=5000):
    return process.log_path.read_text(errors="replace")[-chars:]
