"""Shared set-up for benchmarks: a separate database (never the development one), migrated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"


def bench_database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.path.insert(0, str(ROOT))
        from config import embedded_db

        base = embedded_db.database_url()
    head, _, tail = base.rpartition("/")
    name, sep, query = tail.partition("?")
    return f"{head}/{name}_bench{sep}{query}"


def setup_django(*, migrate: bool = True) -> None:
    """Point Django at the benchmark database (created if missing) and migrate it."""
    import psycopg

    url = bench_database_url()
    os.environ["DATABASE_URL"] = url
    os.environ["BENCH_DATABASE_URL"] = url  # child processes reuse it as is
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("WATTLINE_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    head, _, tail = url.rpartition("/")
    name, sep, query = tail.partition("?")
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
