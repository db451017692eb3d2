"""compose.yaml and the Dockerfile cannot be run here (no Docker engine): check them by reading."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_declares_every_service_with_a_health_check() -> None:
    services = _compose()["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, name


def test_compose_gives_the_app_every_variable_production_settings_require() -> None:
    services = _compose()["services"]
    required = {
        "WATTLINE_ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
    }
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert required <= set(environment), name
        assert environment["WATTLINE_ENV"] == "production"
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_environment_variable_the_settings_read_is_documented() -> None:
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(
        name for name in read if f"`{name}`" not in readme and name not in {"PYTEST_XDIST_WORKER"}
    )
    assert undocumented == []


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, flags=re.MULTILINE)) >= 2
    assert re.search(r"^USER wattline$", dockerfile, flags=re.MULTILINE)
    assert "requirements/base.txt" in dockerfile


def test_vendored_assets_ship_with_their_licences() -> None:
    vendor = ROOT / "static" / "vendor"
    packages = [p for p in vendor.iterdir() if p.is_dir()]
    assert packages
    for package in packages:
        assert (package / "LICENSE").is_file(), package.name
        assert re.search(r"-\d+\.\d+\.\d+$", package.name), f"{package.name} has no pinned version"
