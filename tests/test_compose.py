"""docker/compose.yaml, its Dockerfile and prefect.yaml kept in step with the code, without a Docker engine:
every `reportscan` command line they hold parses with the CLI's own parser, every module they name imports,
and the deployment's parameters are the flow's."""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from flows.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())
IMAGE = "reportscan:latest"


def _vars(text: str) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` as a placeholder value."""
    return re.sub(r"\$\{([A-Z_]+)(:[-?][^}]*)?\}", r"x\1", text)


def _argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [_vars(a) for a in value] if isinstance(value, list) else shlex.split(_vars(value))


def _command_lines(service: dict) -> list[list[str]]:
    """What the container runs: its entrypoint and command (a `sh -c` script split at && and ;)."""
    entry = _argv(service.get("entrypoint"))
    command = _argv(service.get("command"))
    if not entry and service.get("image") == IMAGE:
        entry = ["reportscan"]  # the Dockerfile's ENTRYPOINT
    full = entry + command
    if full[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in re.split(r"&&|;", full[2])]
    return [full]


def _ours() -> dict[str, dict]:
    return {name: s for name, s in COMPOSE["services"].items() if s.get("image") == IMAGE}


def test_the_compose_file_has_every_part_the_deployment_needs():
    services = COMPOSE["services"]
    assert {"postgres", "prefect-server", "worker", "dask-scheduler", "dask-worker", "review"} <= set(services)
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    review = _command_lines(services["review"])[0]
    assert review[review.index("--host") + 1] == "0.0.0.0"  # off localhost: sign-in is on
    env = services["review"]["environment"]
    assert {"REPORTSCAN_OPERATOR", "REPORTSCAN_OPERATOR_PASSWORD", "REPORTSCAN_SECRET_KEY"} <= set(env)
    assert "--allowed-host" in review


@pytest.mark.parametrize("name", sorted(_ours()))
def test_every_reportscan_command_line_parses_with_the_cli(name):
    for argv in _command_lines(_ours()[name]):
        if argv[0] == "reportscan":
            try:
                _parser().parse_args(argv[1:])
            except SystemExit as exc:
                pytest.fail(f"service {name}: `{shlex.join(argv)}` is refused by the CLI (exit {exc.code})")


def test_the_modules_and_programs_the_services_start_exist():
    lines = [argv for s in _ours().values() for argv in _command_lines(s)]
    programs = {argv[0] for argv in lines}
    assert programs <= {"reportscan", "prefect", "dask"}, programs
    for argv in lines:
        for flag in ("--preload",):
            if flag in argv:
                importlib.import_module(argv[argv.index(flag) + 1])
        if argv[:2] == ["dask", "worker"]:
            assert argv[2] == "tcp://dask-scheduler:8786"
    importlib.import_module("prefect_dask")  # the page tasks' runner in the image


def test_the_image_holds_every_package_of_the_project():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = {p.rstrip("*") for p in packages["include"]}
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.M))
    assert wanted <= copied, f"the Dockerfile does not copy {sorted(wanted - copied)}"
    for mounted in COMPOSE["services"]["postgres"]["volumes"][1:]:
        assert (ROOT / "docker" / mounted.split(":")[0]).is_file()


def test_the_deployment_runs_the_batch_flow_with_its_own_parameters():
    from prefect import Flow

    [dep] = DEPLOYMENTS["deployments"]
    path, name = dep["entrypoint"].split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    assert isinstance(flow, Flow)
    accepted = set(inspect.signature(flow.fn).parameters)
    assert set(dep["parameters"]) <= accepted, set(dep["parameters"]) - accepted
    assert dep["parameters"]["dask_address"] == "tcp://dask-scheduler:8786"
    assert dep["work_pool"]["name"] in COMPOSE["services"]["deploy"]["entrypoint"][2]
    [sched] = dep["schedules"]
    from flows.schedule import check_schedule

    check_schedule(sched["cron"], sched["timezone"])
