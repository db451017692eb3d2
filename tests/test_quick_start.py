"""The README's quick start, run as a newcomer would: `make run` on an empty var/, twice.

`make run` is `make setup` (the venv, already made for this test run) followed by
`scripts/run.sh`, which this test starts with no DATABASE_URL and no REDIS_URL,
so the embedded PostgreSQL is created under a fresh var/. It waits for the home
page, interrupts the script like Ctrl-C, checks that the embedded database
stopped, and runs it again on the same var/ (migrations and demo data must be
idempotent).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readme_quick_start_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make (\w+)", quick_start, flags=re.MULTILINE)
    assert commands[:2] == ["run", "test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: setup\n\t@bash scripts/run.sh$", makefile, flags=re.MULTILINE)


def _run_once(var_dir: Path) -> str:
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "WATTLINE_ENV", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(WATTLINE_VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1")
    log = var_dir.parent / f"run-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            body = ""
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                        body = page.read().decode()
                        break
                except OSError:
                    time.sleep(1)
            assert body, log.read_text()
        finally:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
            process.wait(timeout=60)
    return body + log.read_text()


@pytest.fixture
def empty_var_dir() -> Iterator[Path]:
    """A fresh var/ under the checkout (pytest's own temp root is private to root, and the
    embedded PostgreSQL runs as its own system user, which must reach its data folder)."""
    path = ROOT / "var" / f"quickstart-{uuid.uuid4().hex[:8]}" / "var"
    path.parent.mkdir(parents=True)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def test_make_run_twice_on_an_empty_var_serves_the_portal_and_stops_cleanly(
    empty_var_dir: Path,
) -> None:
    var_dir = empty_var_dir
    first = _run_once(var_dir)
    assert "Your electricity, clearly" in first
    assert "customer@demo.wattline.test" in first
    assert "stopped embedded PostgreSQL" in first
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()

    second = _run_once(var_dir)
    assert "No migrations to apply." in second
    assert second.count("customer@demo.wattline.test") == 1
    assert "stopped embedded PostgreSQL" in second
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()
