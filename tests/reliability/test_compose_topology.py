"""``docker-compose.yml`` is valid and says what docs/operations.md says it does, although no Docker
engine runs here; and the topology it describes (API replicas without an embedded projector,
projector processes, settings from secret files) runs without Docker on one store.

The file is checked against the Compose specification's JSON schema (the copy that
``check-jsonschema`` keeps as ``vendor.compose-spec``), then read for what the schema cannot know:
which services exist, that every setting it names is one of ours, that secrets never sit in the
environment, that a `$` meant for nginx is escaped from Compose's interpolation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.settings import SECRETS_DIR_VARIABLE, Settings
from tests.e2e.cli import REALTY, realty
from tests.reliability.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SECRET_SETTINGS = {"REALTY_DATABASE_URL", "REALTY_MASTER_KEYS", "REALTY_SIGNING_KEY_PEM"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def run_realty(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI with exactly this environment (``tests.e2e.cli.realty`` adds the tests' master key)."""
    return subprocess.run([str(REALTY), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False)


def strings(node: Any) -> Any:
    """Every string value of a parsed YAML document (what Compose interpolates; not the comments)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def command(service: dict[str, Any]) -> list[str]:
    return list(service.get("command") or [])


def services_running(doc: dict[str, Any], *argv: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if command(s)[: len(argv)] == list(argv)}


def test_the_compose_file_matches_the_compose_specification() -> None:
    checked = validate(COMPOSE)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text(encoding="utf-8").replace("    healthcheck: *api-health\n",
                                                                   "    healthcheck: *api-health\n    replicas: two\n",
                                                                   1), encoding="utf-8")
    checked = validate(broken)
    assert checked.returncode != 0
    assert "replicas" in checked.stdout + checked.stderr


def test_postgresql_16_two_api_replicas_behind_the_proxy_and_two_projectors() -> None:
    doc = compose()
    assert doc["services"]["postgres"]["image"].split(":")[1].split(".")[0] == "16"
    apis = services_running(doc, "realty", "serve")
    projectors = services_running(doc, "realty", "projector")
    assert len(apis) == 2 and len(projectors) == 2
    upstream = re.findall(r"server (\S+):8000", doc["configs"]["proxy_conf"]["content"])
    assert sorted(upstream) == sorted(apis)
    proxy = doc["services"]["proxy"]
    assert set(proxy["depends_on"]) == set(apis)
    assert all(proxy["depends_on"][name]["condition"] == "service_healthy" for name in apis)


def test_every_long_running_service_has_a_health_check_and_a_restart_policy() -> None:
    for name, service in compose()["services"].items():
        if name == "init":  # one-shot
            assert service["restart"] == "no"
            continue
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name


def test_the_store_is_initialised_once_before_any_replica_starts() -> None:
    doc = compose()
    assert command(doc["services"]["init"]) == ["realty", "init"]
    for name in [*services_running(doc, "realty", "serve"), *services_running(doc, "realty", "projector")]:
        assert doc["services"][name]["depends_on"]["init"]["condition"] == "service_completed_successfully", name


def test_the_api_replicas_leave_the_views_to_the_projectors() -> None:
    doc = compose()
    for name in services_running(doc, "realty", "serve"):
        assert doc["services"][name]["environment"]["REALTY_EMBEDDED_PROJECTOR"] == "false", name


def test_keys_and_the_database_password_come_as_secrets_never_from_the_environment() -> None:
    doc = compose()
    declared = doc["secrets"]
    assert {"realty_master_keys", "realty_signing_key_pem", "realty_database_url", "postgres_password"} <= set(declared)
    assert all("file" in secret for secret in declared.values())
    ledger = {**services_running(doc, "realty"), "init": doc["services"]["init"]}
    for name, service in ledger.items():
        environment = service["environment"]
        assert environment[SECRETS_DIR_VARIABLE] == "/run/secrets", name
        assert not SECRET_SETTINGS & set(environment), name
        assert {"realty_master_keys", "realty_signing_key_pem", "realty_database_url"} <= set(service["secrets"]), name
    postgres = doc["services"]["postgres"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_every_setting_the_compose_file_names_is_one_the_service_reads() -> None:
    known = {f"REALTY_{name.upper()}" for name in Settings.model_fields} | {SECRETS_DIR_VARIABLE}
    for name, service in compose()["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("REALTY_"):
                assert variable in known, f"{name}: {variable} is not a setting"
    for secret in compose()["secrets"]:
        if secret.startswith("realty_"):  # a secret file feeds the setting of its name
            assert secret.upper() in known, secret


def test_every_dollar_meant_for_nginx_is_escaped_from_compose_interpolation() -> None:
    values = list(strings(compose()))
    assert any("$$host" in value for value in values)  # the proxy's configuration does use nginx variables
    assert not [value for value in values if "$" in value.replace("$$", "")]


def test_the_projector_health_check_reads_the_heartbeat_the_projector_writes() -> None:
    doc = compose()
    for name, service in services_running(doc, "realty", "projector").items():
        heartbeat = command(service)[command(service).index("--heartbeat") + 1]
        assert heartbeat in " ".join(service["healthcheck"]["test"]), name


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client: the schema check above stands in")
def test_docker_compose_config_accepts_the_file_where_a_compose_client_exists(tmp_path: Path) -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip("docker has no compose plugin here: the schema check above stands in")
    secrets = tmp_path / "secrets"
    assert realty("secrets", "init", "--out", str(secrets)).returncode == 0
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    checked = subprocess.run(["docker", "compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "--quiet"],
                             capture_output=True, text=True, check=False, timeout=120)
    assert checked.returncode == 0, checked.stderr


def test_the_compose_topology_runs_without_docker_on_settings_from_secret_files(
        own_database_url: str, tmp_path: Path) -> None:
    """As many API and projector processes as the compose file has, with its environment and the
    secret files `realty secrets init` writes: a command through one replica is read back through
    the other and reaches the views kept by the projectors."""
    doc = compose()
    apis, projectors = services_running(doc, "realty", "serve"), services_running(doc, "realty", "projector")
    secrets = tmp_path / "secrets"
    made = realty("secrets", "init", "--out", str(secrets))
    assert made.returncode == 0, made.stderr
    assert not any(secret.read_bytes().decode() in made.stdout for secret in secrets.iterdir())  # never printed
    (secrets / "realty_database_url").write_text(own_database_url, encoding="utf-8")
    # The compose environment, minus the container's own paths (the topology puts those in tmp_path).
    environment = {k: v for k, v in doc["x-ledger"]["environment"].items()
                   if k != SECRETS_DIR_VARIABLE and not str(v).startswith("/app/")}
    topology = Topology(own_database_url, tmp_path / "home", apis=len(apis), projectors=len(projectors),
                        extra_env=environment, secrets_dir=secrets)
    try:
        topology.start()
        env = topology.settings_env()
        assert not SECRET_SETTINGS & set(env) and env[SECRETS_DIR_VARIABLE] == str(secrets)
        consultant = {"Authorization": f"Bearer {topology.tokens['consultant']}"}
        first, second = topology.api_urls
        made_customer = httpx.post(f"{first}/customers", headers=consultant, timeout=30, json={
            "channel": "walk_in", "reception_started_at": "2026-12-01T09:00:00+08:00",
            "reception_ended_at": "2026-12-01T09:20:00+08:00"})
        assert made_customer.status_code == 201, made_customer.text
        customer = made_customer.json()["id"]
        assert httpx.get(f"{second}/customers/{customer}", headers=consultant, timeout=30).status_code == 200
        pipeline = httpx.get(f"{second}/views/pipeline", headers=consultant, timeout=30, params={
            "min_position": made_customer.json()["position"]})  # kept by the projector processes
        assert pipeline.status_code == 200, pipeline.text
        assert customer in [row["customer_id"] for row in pipeline.json()["items"]]
        # The CLI on the same secret files: the checkpoint is signed with the PEM secret (there is
        # no key directory), and the whole log verifies.
        no_key_directory = {**env, "REALTY_SIGNING_KEYS_DIR": str(tmp_path / "no-keys-here")}
        checkpoint = run_realty(["audit", "checkpoint"], no_key_directory, topology.home)
        assert checkpoint.returncode == 0, checkpoint.stderr
        assert not (tmp_path / "no-keys-here").exists()
        verified = run_realty(["verify"], no_key_directory, topology.home)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        topology.stop()
    for process in [*topology.api_processes, *topology.projector_processes]:
        assert "Traceback" not in process.output(), f"{process.name}: {process.output()[-3000:]}"
