"""The Dockerfile and the Kubernetes example (deploy/kubernetes/), checked against the app.

No image can be built here (no registry to pull the base from): the Dockerfile's steps are
replayed instead, each stage in a folder standing for its root filesystem, with this machine's
Python as the base image's and pip's configuration as PyPI; then the CMD must serve and stop.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from entrypoints.api.app import create_app
from entrypoints.api.routers import health
from entrypoints.cli.serve import DEFAULT_GRACEFUL_TIMEOUT
from entrypoints.settings import Settings, unknown_variables
from tests.api_support import build_test_container
from tests.integration.servers import free_port

REPO = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# The image's /usr/local/bin (its Python) is this interpreter's; the base image's system
# folders stay as they are, and any other absolute path moves under the replayed root.
BASE_PATH = f"{sys.base_prefix}/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_FOLDERS = ("/usr/", "/bin/", "/etc/", "/dev/")
# What the build uses of this machine: pip's configuration (its index stands for PyPI), proxies.
PASSED_ON = {"home", "http_proxy", "https_proxy", "no_proxy"}
BUILD_ENV = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower() in PASSED_ON}
# What the pods' Secret holds: placeholders the settings accept.
SECRETS = {
    "STOCKROOM_DATABASE_URL": "postgresql+asyncpg://stockroom:password@db:5432/stockroom",
    "STOCKROOM_SECRET_KEY": "k" * 48,
}
STOP_MARGIN_SECONDS = 3  # after the drain and the graceful timeout: the pools closed, exited

Image = tuple[Path, dict[str, str]]  # the replayed image's root folder and its ENV


@dataclass
class Stage:
    base: str
    name: str
    steps: list[tuple[str, str]]  # (INSTRUCTION, its arguments)


def dockerfile() -> list[Stage]:
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())  # continuation lines
    stages: list[Stage] = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            if keyword.upper() == "FROM":
                base, *name = re.split(r"\s+as\s+", arguments, flags=re.IGNORECASE)
                stages.append(Stage(base, "".join(name), []))
            else:
                stages[-1].steps.append((keyword.upper(), arguments))
    return stages


def final(keyword: str) -> str:
    return [arguments for key, arguments in dockerfile()[-1].steps if key == keyword][-1]


def cmd() -> list[str]:
    return list(json.loads(final("CMD")))


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def stop_seconds(env: dict[str, Any], command: list[str]) -> tuple[float, float]:
    """The drain and the graceful timeout of a server started with ``env`` and ``command``."""
    drain = env.get("STOCKROOM_DRAIN_SECONDS") or Settings.model_fields["drain_seconds"].default
    return float(drain), float(option(command, "--graceful-timeout") or DEFAULT_GRACEFUL_TIMEOUT)


def dockerignore() -> tuple[set[str], list[str]]:
    """What the build context holds (an allow-list after ``*``), and what it leaves out of it."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("#")]
    assert lines[0] == "*", ".dockerignore: the context is an allow-list"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    return allowed, [line.removeprefix("**/") for line in lines[1:] if not line.startswith("!")]


def moved(path: str, root: Path) -> str:
    """An absolute path of the image, as the replay has it."""
    return f"{root}{path}" if path.startswith("/") and not path.startswith(SYSTEM_FOLDERS) else path


def copy(arguments: str, done: dict[str, Path], root: Path, workdir: str) -> None:
    *sources, destination = shlex.split(arguments)
    stage = sources.pop(0).removeprefix("--from=") if sources[0].startswith("--from=") else None
    for source in sources:
        origin = Path(moved(source, done[stage])) if stage else REPO / source
        target = Path(moved(os.path.join(workdir, destination), root))
        if origin.is_dir():
            ignore = shutil.ignore_patterns(*dockerignore()[1])
            shutil.copytree(origin, target, symlinks=True, ignore=ignore)
        else:
            target = target / origin.name if destination.endswith("/") else target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The image's root and ENV, from the Dockerfile replayed (the slow part: a fresh venv)."""
    python = re.match(r"python:(\d+\.\d+)", dockerfile()[-1].base)
    if python is None or python[1] != "{}.{}".format(*sys.version_info):
        pytest.skip(f"{dockerfile()[-1].base} is not this machine's Python: no faithful replay")
    folder = tmp_path_factory.mktemp("image")
    # Every stage is built at the same path, as in Docker (a venv's scripts name their Python
    # by its path); a finished one moves aside, where COPY --from finds it.
    root, done = folder / "root", dict[str, Path]()
    for number, stage in enumerate(dockerfile()):
        root.mkdir()
        env, workdir = {"PATH": BASE_PATH}, "/"
        for keyword, arguments in stage.steps:
            if keyword == "WORKDIR":
                workdir = os.path.join(workdir, arguments)
                Path(moved(workdir, root)).mkdir(parents=True, exist_ok=True)
            elif keyword == "ENV":
                for pair in shlex.split(arguments):
                    name, _, value = pair.partition("=")
                    value = ":".join(moved(part, root) for part in value.split(":"))
                    env[name] = Template(value).safe_substitute(env)
            elif keyword == "COPY":
                copy(arguments, done, root, workdir)
            elif keyword == "RUN":
                words = [moved(word, root) for word in shlex.split(arguments)]
                run = subprocess.run(  # noqa: S603 - the Dockerfile's own step
                    ["/bin/sh", "-c", shlex.join(words)],
                    cwd=moved(workdir, root),
                    env={**BUILD_ENV, **env},
                    capture_output=True,
                    text=True,
                )
                assert run.returncode == 0, f"RUN {arguments}\n{run.stdout}{run.stderr}"
        done[stage.name or str(number)] = root.rename(folder / f"stage-{number}")
    done.popitem()[1].rename(root)  # the image: only what its own stage made and copied
    for stage_root in done.values():
        shutil.rmtree(stage_root)
    return root, env


def test_the_dockerfile_builds_the_pyproject_in_stages_and_runs_as_non_root() -> None:
    stages = dockerfile()
    assert len(stages) >= 2, "multi-stage: the build's tools and sources stay behind"
    assert len({stage.base for stage in stages}) == 1, "the venv runs on the Python it was built"
    python = re.fullmatch(r"python:(\d+\.\d+)-slim.*", stages[-1].base)
    assert python is not None, "a python slim image"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(python[1])
    copies = [shlex.split(a) for s in stages for k, a in s.steps if k == "COPY"]
    copied = {word for words in copies if "--from" not in words[0] for word in words[:-1]}
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {name.rstrip("*") for name in packages} | {"pyproject.toml", "constraints.txt"} <= copied
    assert copied <= dockerignore()[0], ".dockerignore leaves out what the build copies"
    [install] = [a for s in stages for k, a in s.steps if k == "RUN" and "pip install" in a]
    assert shlex.split(install)[-3:] == ["-c", "constraints.txt", "."], "the pinned pyproject"
    assert int(final("USER").split(":")[0]) != 0, "a numeric, non-root user"
    assert cmd()[:2] == ["stockroom", "serve"]
    assert option(cmd(), "--host") == "0.0.0.0"  # noqa: S104 - the container's own interface
    assert final("EXPOSE") == option(cmd(), "--port")


def status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def test_the_image_serves_the_probes_drains_and_stops_in_time(image: Image, tmp_path: Path) -> None:
    root, image_env = image
    api = pod("Deployment")["containers"][0]
    live, ready = (api[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe"))
    port = free_port()
    command = cmd()
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    base = f"http://127.0.0.1:{port}"
    # `docker run -e ...`: a database and a key, which production (the image's ENV) requires.
    env = {**image_env, "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/stockroom.db"}
    env["STOCKROOM_SECRET_KEY"] = SECRETS["STOCKROOM_SECRET_KEY"]
    env["STOCKROOM_METRICS_PORT"] = str(free_port())  # the default may be another server's
    files_before = sorted(root.rglob("*"))
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the image's CMD
            command,
            cwd=moved(final("WORKDIR"), root),
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while status(base + live) is None and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert status(base + live) == 200, log.read_text()
        assert status(base + ready) == 200, log.read_text()

        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        # The signal reaches every worker within moments, not at a fixed time: wait for it.
        turned = time.monotonic() + 5
        while status(base + ready) != 503 and time.monotonic() < turned:
            time.sleep(0.1)
        assert status(base + ready) == 503, "draining: send no more traffic"
        assert status(base + live) == 200, "and still serving"
        drain, graceful = stop_seconds(env, command)
        assert process.wait(timeout=drain + graceful + STOP_MARGIN_SECONDS) == 0, log.read_text()
        assert time.monotonic() - stopped >= drain, "it served for the whole drain"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group, workers included
            process.wait()
    assert sorted(root.rglob("*")) == files_before, "a read-only root filesystem holds"


def manifests() -> list[dict[str, Any]]:
    files = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    [found] = [doc for doc in manifests() if doc["kind"] == kind]
    return found


def pod(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(kind)["spec"]["template"]["spec"]
    return spec


def test_the_probes_are_the_apps_health_routes_on_the_port_it_serves() -> None:
    api = pod("Deployment")["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    served = int(option(cmd(), "--port") or 0)
    assert ports["http"] == served, "the port the image's CMD serves on"
    paths = {route.endpoint: route.path for route in health.router.routes}  # type: ignore[attr-defined]
    published = create_app(build_test_container()).openapi()["paths"]
    for probe, endpoint in [
        ("startupProbe", health.live),
        ("livenessProbe", health.live),  # touches no database: an outage restarts nothing
        ("readinessProbe", health.ready),  # 503 while draining
    ]:
        assert api[probe]["httpGet"]["path"] == paths[endpoint], probe
        assert "get" in published[paths[endpoint]], f"{probe}: the app serves it"
        port = api[probe]["httpGet"]["port"]
        assert ports.get(port, port) == served, f"{probe}: the port the app serves on"


def test_metrics_are_scraped_from_their_own_port_which_the_service_does_not_expose() -> None:
    api = pod("Deployment")["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    env = {item["name"]: item.get("value") for item in api.get("env", [])}
    listens = env.get("STOCKROOM_METRICS_PORT") or Settings.model_fields["metrics_port"].default
    assert ports["metrics"] == int(listens)
    assert env.get("STOCKROOM_METRICS_HOST") == "0.0.0.0", "scraped from outside the pod"  # noqa: S104
    (service,) = [doc for doc in manifests() if doc["kind"] == "Service"]
    assert {port["targetPort"] for port in service["spec"]["ports"]} == {"http"}


def test_the_stop_fits_the_termination_grace_period() -> None:
    api = pod("Deployment")["containers"][0]
    env = {item["name"]: item.get("value") for item in api.get("env", [])}
    sleep, pre_stop = api["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    drain, graceful = stop_seconds(env, api.get("args", cmd()))
    stop = float(pre_stop) + drain + graceful + STOP_MARGIN_SECONDS
    assert stop <= pod("Deployment").get("terminationGracePeriodSeconds", 30), "killed before done"
    readiness = api["readinessProbe"]
    seen = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
    assert seen <= drain, "the readiness probe sees the 503 before the port closes"


def test_the_pods_run_as_non_root_and_the_job_migrates_with_the_same_image() -> None:
    for kind in ("Deployment", "Job"):
        assert pod(kind)["securityContext"]["runAsNonRoot"] is True
        assert pod(kind)["securityContext"].get("runAsUser") != 0
    job = pod("Job")["containers"][0]
    assert job["command"] == ["stockroom", "db", "upgrade"]
    assert job["image"] == pod("Deployment")["containers"][0]["image"]


def test_the_environment_holds_only_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    image_env = [pair.partition("=")[0] for pair in shlex.split(final("ENV"))]
    assert unknown_variables(image_env) == [], "the Dockerfile's ENV"
    services = [doc["metadata"]["name"] for doc in manifests() if doc["kind"] == "Service"]
    for kind in ("Deployment", "Job"):
        # A Service foo puts FOO_SERVICE_HOST, FOO_PORT... in its namespace's pods.
        if pod(kind).get("enableServiceLinks", True):
            links = [f"{name.upper().replace('-', '_')}_SERVICE_HOST" for name in services]
            assert unknown_variables(links) == [], "Service links the app would refuse"
        for container in pod(kind)["containers"]:
            env = {item["name"]: item.get("value") for item in container.get("env", [])}
            assert unknown_variables(env) == []
            for name in [name for name in os.environ if name.startswith("STOCKROOM_")]:
                monkeypatch.delenv(name)
            for name, value in {**env, **SECRETS}.items():
                monkeypatch.setenv(name, value or SECRETS[name])
            Settings()  # the values are valid too


def test_the_disruption_budget_and_the_service_select_the_api_pods() -> None:
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    job_labels = one("Job")["spec"]["template"]["metadata"]["labels"]
    for kind, selector in [
        ("Deployment", one("Deployment")["spec"]["selector"]["matchLabels"]),
        ("PodDisruptionBudget", one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]),
        ("Service", one("Service")["spec"]["selector"]),
    ]:
        assert selector, kind
        assert selector.items() <= labels.items(), f"{kind} misses the pods"
        assert not selector.items() <= job_labels.items(), f"{kind} takes in the migration job"
    names = {port["name"] for port in pod("Deployment")["containers"][0]["ports"]}
    assert {port["targetPort"] for port in one("Service")["spec"]["ports"]} <= names
