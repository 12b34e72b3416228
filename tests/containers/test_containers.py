"""The Dockerfile and docker-compose.yml, read as files: no Docker engine runs here.

`make lint-containers` lints the Dockerfile (hadolint) and validates the compose file against the
compose-spec schema; these tests hold what the schema cannot: that the containers run the same
`wallet` commands as `make run` and `make test`, in the right order, with the settings the
service knows, from the hash-locked dependencies.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.cli import build_parser
from service.config import DEFAULTS
from tests.support import ROOT


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, Any]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    pairs = []
    for text in joined:
        word, _, rest = text.partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions by stage name; ARGs before the first FROM are left out."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in _instructions():
        if word == "FROM":
            image, _, name = rest.partition(" AS ")
            current = stages.setdefault(name.strip() or f"stage{len(stages)}", [])
            current.append((word, image.strip()))
        elif current is not None:
            current.append((word, rest))
    return stages


def _final_stage() -> list[tuple[str, str]]:
    return list(_stages().values())[-1]


def _args(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [rest for instruction, rest in stage if instruction == word]


def _command(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else list(value)


def _default_python_image() -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert match, "the Dockerfile names its Python base image in ARG PYTHON_IMAGE"
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_the_app_stage_is_the_default_target() -> None:
    stages = _stages()
    assert {"build", "app", "postgres"} <= stages.keys()
    assert list(stages)[-1] == "app", "the last stage is what `docker build .` makes"
    assert any("--from=build" in rest for rest in _args(stages["app"], "COPY"))
    # nothing of the build stage but the virtual environment
    assert _args(stages["app"], "COPY") == ["--from=build /opt/wallet /opt/wallet"]


def test_dockerfile_installs_dependencies_from_the_lock_with_hashes() -> None:
    build = _stages()["build"]
    installs = [rest for rest in _args(build, "RUN") if "pip install" in rest]
    locked = [rest for rest in installs if "-r /tmp/requirements-runtime.lock" in rest]
    assert locked and all("--require-hashes" in rest for rest in locked)
    # the package itself comes after, without pulling anything unlocked
    package = [rest for rest in installs if rest not in locked]
    assert package and all("--no-deps" in rest for rest in package)
    assert "requirements-runtime.lock /tmp/requirements-runtime.lock" in _args(build, "COPY")


def test_dockerfile_runs_wallet_serve_as_a_non_root_user_with_a_health_check() -> None:
    app = _final_stage()
    assert app[0] == ("FROM", "${PYTHON_IMAGE}")
    assert _default_python_image().startswith("python:3.11")
    users = _args(app, "USER")
    assert users, "the app stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"} and user.isdigit(), "a numeric, non-root user"
    assert any(f"--uid {user}" in rest for rest in _args(app, "RUN"))
    assert _args(app, "CMD") == ['["wallet", "serve"]']
    (healthcheck,) = _args(app, "HEALTHCHECK")
    assert "/health" in healthcheck and "CMD" in healthcheck
    assert _args(app, "EXPOSE") == ["3000"]
    env = " ".join(_args(app, "ENV"))
    assert "WALLET_HOST=0.0.0.0" in env and "WALLET_PORT=3000" in env


def test_postgres_stage_is_postgresql_17_with_pgtap_and_pg_prove() -> None:
    postgres = _stages()["postgres"]
    assert postgres[0][1].startswith("postgres:17")
    run = " ".join(_args(postgres, "RUN"))
    assert "postgresql-17-pgtap" in run
    assert "libtap-parser-sourcehandler-pgtap-perl" in run  # pg_prove


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".local", ".env"} <= ignored
    assert not {"service", "db", "pyproject.toml", "requirements-runtime.lock"} & ignored


# ---------------------------------------------------------------------------------------------
# requirements-runtime.lock: the runtime part of requirements.lock, nothing else
# ---------------------------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    text = path.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
            pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def test_runtime_lock_pins_exactly_what_requirements_lock_pins() -> None:
    everything = _pins(ROOT / "requirements.lock")
    runtime = _pins(ROOT / "requirements-runtime.lock")
    assert runtime, "requirements-runtime.lock has no pins"
    differing = {
        name: (pin, everything.get(name))
        for name, pin in runtime.items()
        if everything.get(name) != pin
    }
    assert not differing, "re-lock both files (make lock): " + repr(differing)


def test_runtime_lock_holds_every_runtime_dependency_and_no_dev_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _pins(ROOT / "requirements-runtime.lock")
    needed = {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}
    assert needed <= runtime.keys(), "re-lock both files (make lock)"
    dev = {canonicalize_name(Requirement(s).name) for s in project["optional-dependencies"]["dev"]}
    # httpx is a dev dependency of ours and a runtime one of Litestar's
    assert not (dev - {"httpx"}) & runtime.keys()


# ---------------------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------------------


def test_compose_runs_postgresql_17_and_redis_7_with_health_checks() -> None:
    services = _services()
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["build"]["target"] == "postgres"  # postgres:17, see the Dockerfile test
    assert str(postgres["image"]).endswith(":17")
    assert str(redis["image"]).startswith("redis:7")
    for service in (postgres, redis):
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert redis["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_postgresql_data_lives_in_a_named_volume() -> None:
    compose = _compose()
    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_redis_is_a_cache_that_persists_nothing() -> None:
    command = _command(_services()["redis"]["command"])
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--save"] == ""
    assert options["--appendonly"] == "no"
    assert options["--maxmemory"]
    # every key the service writes has a TTL, and losing one is safe (docs/operations.md)
    assert options["--maxmemory-policy"] in {"allkeys-lru", "volatile-lru"}


@pytest.mark.parametrize(
    ("service", "command"), [("migrate", "migrate"), ("seed", "seed"), ("app", "serve")]
)
def test_containers_run_the_wallet_commands_that_make_run_and_make_test_run(
    service: str, command: str
) -> None:
    """The subcommand exists, and the Makefile runs it too: containers and tests cannot drift."""
    compose_command = _command(_services()[service]["command"])
    assert compose_command == ["wallet", command]
    assert build_parser().parse_args([command]).command == command
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"$(WALLET) {command}" in makefile


def test_migrate_and_seed_are_one_shot_and_run_in_order() -> None:
    services = _services()
    for name in ("migrate", "seed"):
        assert services[name]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["seed"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_app_waits_for_healthy_stores_and_finished_migrate_and_seed_on_port_3000() -> None:
    app = _services()["app"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
        "seed": {"condition": "service_completed_successfully"},
    }
    assert app["ports"] == ["3000:3000"]
    assert app["environment"]["WALLET_PORT"] == "3000"
    assert app["environment"]["WALLET_HOST"] == "0.0.0.0"  # noqa: S104 - inside its container
    assert app["build"]["target"] == "app"


def test_compose_sets_only_settings_the_service_knows() -> None:
    for name, service in _services().items():
        for key in service.get("environment", {}):
            if key.startswith("WALLET_"):
                assert key in DEFAULTS, f"{name}: {key} is not a setting of service/config.py"


def test_the_service_connects_as_wallet_service_and_only_jobs_get_the_admin_url() -> None:
    services = _services()
    app_env = services["app"]["environment"]
    assert app_env["WALLET_DATABASE_URL"].startswith("postgresql://wallet_service:")
    assert "WALLET_ADMIN_DATABASE_URL" not in app_env
    for job in ("migrate", "seed"):
        env = services[job]["environment"]
        assert env["WALLET_ADMIN_DATABASE_URL"].startswith("postgresql://postgres:")
        # migrate sets wallet_service's password from this URL, the one the app connects with
        assert env["WALLET_DATABASE_URL"] == app_env["WALLET_DATABASE_URL"]


def test_sqltest_profile_runs_pg_prove_on_sql_tests_against_the_compose_database() -> None:
    services = _services()
    tests = services["sql-tests"]
    assert tests["profiles"] == ["sqltest"]
    assert tests["build"]["target"] == "postgres"
    script = " ".join(_command(tests["command"]))
    assert "CREATE EXTENSION IF NOT EXISTS pgtap" in script
    assert "pg_prove --ext .sql -r /sql_tests/" in script
    assert "./sql_tests:/sql_tests:ro" in tests["volumes"]
    assert tests["environment"]["PGHOST"] == "postgres"
    assert tests["depends_on"]["seed"] == {"condition": "service_completed_successfully"}
    # only the tests are behind the profile: `docker compose up` starts everything else
    assert [name for name, s in services.items() if "profiles" in s] == ["sql-tests"]
