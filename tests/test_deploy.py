"""The deployment files: Dockerfile, docker-compose.yml and deploy/, checked without a Docker engine.

No Docker daemon runs where the tests run, so the files are read as data and
every part that can run here does: the configuration the stack mounts is
loaded with the environment the stack sets, the container entrypoint migrates
a real database and runs ``intake``, the health check command is run against
a real HTTP server, and the demo Dovecot starts from its own files.
"""

from __future__ import annotations

import http.server
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from pydantic import BaseModel

from intake.config import MailboxSettings, Settings, load_settings
from tests.conftest import REPO, need
from tests.pgscratch import scratch_database
from tests.ports import free_port

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DEPLOY = REPO / "deploy"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
SECRET_EXAMPLE = DEPLOY / "secrets" / "imap_password.example"
SERVICES = {"intake", "postgres", "dovecot", "mailcatcher"}
VENV_BIN = str(Path(sys.executable).parent)


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``$$``, as ``docker compose`` would expand them."""
    environ = environ or {}

    def expand(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(3)
        return environ.get(name) or (default or "")

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", expand, value)


def service_env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): interpolate(str(v)) for k, v in raw.items()}


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume entry in the short ``source:target[:mode]`` form."""
    pairs = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"long volume syntax not expected: {entry!r}"
        source, target = entry.split(":")[:2]
        pairs.append((source, target))
    return pairs


def published(service: dict[str, Any]) -> set[int]:
    """Container ports published to the host, from ``[ip:]host:container`` entries."""
    return {int(str(entry).split(":")[-1].split("/")[0]) for entry in service.get("ports", [])}


def healthcheck_command(test: list[str]) -> list[str]:
    """The argv a ``CMD`` healthcheck runs (``CMD-SHELL`` is run through ``sh -c``)."""
    kind, *rest = test
    assert kind in {"CMD", "CMD-SHELL"}, test
    return rest if kind == "CMD" else ["sh", "-c", rest[0]]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def only(steps: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for k, args in steps if k == keyword]



# ---------------------------------------------------------------- docker-compose.yml


def test_the_four_services_each_have_a_healthcheck(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert healthcheck_command(check["test"]), name
    assert "pg_isready" in " ".join(compose["services"]["postgres"]["healthcheck"]["test"])
    assert compose["services"]["postgres"]["image"] == "postgres:15"


def test_intake_starts_only_when_its_dependencies_are_healthy(compose: dict[str, Any]) -> None:
    depends = compose["services"]["intake"]["depends_on"]
    assert {name: spec["condition"] for name, spec in depends.items()} == {
        "postgres": "service_healthy",
        "dovecot": "service_healthy",
        "mailcatcher": "service_healthy",
    }


def test_intake_gets_time_to_finish_the_message_in_hand(compose: dict[str, Any]) -> None:
    grace = compose["services"]["intake"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > Settings.model_fields["extract"].default.timeout_seconds


def test_intake_publishes_web_and_smtp_receiver(compose: dict[str, Any]) -> None:
    assert {8000, 2525} <= published(compose["services"]["intake"])
    assert 8025 in published(compose["services"]["mailcatcher"])


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: dict[str, str] = {}
    for service in compose["services"].values():
        for source, target in mounts(service):
            if not source.startswith((".", "/")):
                assert source in declared, f"volume {source} is not declared at the top level"
                used[source] = target
    assert declared == set(used), "a declared volume is used by no service"
    assert used["intake-store"] == "/var/lib/intake"
    assert used["pgdata"] == "/var/lib/postgresql/data"
    assert ("dovecot-mail", "/srv/mail") in mounts(compose["services"]["dovecot"])


def test_bind_mounts_and_build_contexts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _target in mounts(service):
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
    for script in ("entrypoint.sh", "healthcheck.sh"):
        assert os.access(DEPLOY / "dovecot" / script, os.X_OK), script


def test_the_imap_password_is_a_secret_with_an_example_and_the_real_file_is_ignored(
    compose: dict[str, Any],
) -> None:
    secret = compose["secrets"]["imap_password"]
    assert secret["file"] == "./deploy/secrets/imap_password"
    assert SECRET_EXAMPLE.read_text(encoding="utf-8").strip()
    for name in ("intake", "dovecot"):
        assert "imap_password" in compose["services"][name]["secrets"]
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/secrets/imap_password"], cwd=REPO)
    assert ignored.returncode == 0, "the real secret file must not be committable"
    kept = subprocess.run(["git", "check-ignore", "-q", str(SECRET_EXAMPLE.relative_to(REPO))], cwd=REPO)
    assert kept.returncode == 1, "the example must stay in the repository"


def _config_mount(compose: dict[str, Any]) -> Path:
    intake = compose["services"]["intake"]
    config_path = service_env(intake)["INTAKE_CONFIG"]
    sources = [source for source, target in mounts(intake) if target == config_path]
    assert len(sources) == 1, f"nothing is mounted at {config_path}"
    return REPO / sources[0]


def test_every_env_override_names_a_real_setting(compose: dict[str, Any]) -> None:
    env = service_env(compose["services"]["intake"])
    boxes = {box["name"] for box in _toml(_config_mount(compose)).get("mailboxes", [])}
    overrides = {k: v for k, v in env.items() if k.startswith("INTAKE_") and "__" in k}
    assert {"INTAKE_DATABASE__URL", "INTAKE_SMTP__HOST", "INTAKE_SMTP__PORT", "INTAKE_SMTP__SECURITY"} <= set(
        overrides
    )
    for name in overrides:
        parts = name.removeprefix("INTAKE_").lower().split("__")
        if parts[0] == "mailboxes":
            assert len(parts) == 3, name
            # Only a mailbox the file defines can be overridden (config.apply_env refuses others).
            assert parts[1] in {b.lower() for b in boxes}, f"{name}: no mailbox {parts[1]!r} in the mounted file"
            assert parts[2] in MailboxSettings.model_fields, f"{name}: mailboxes have no key {parts[2]!r}"
            continue
        assert len(parts) == 2, name
        section, key = parts
        field = Settings.model_fields.get(section)
        assert field is not None, f"{name}: no section [{section}]"
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), f"{name}: {section} is not a section"
        assert key in model.model_fields, f"{name}: [{section}] has no key {key!r}"


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_mounted_config_loads_with_the_stack_environment(compose: dict[str, Any], tmp_path: Path) -> None:
    intake = compose["services"]["intake"]
    env = service_env(intake)
    config = _config_mount(compose)
    secret_files = {f"/run/secrets/{name}" for name in intake["secrets"]}
    # Inside the container the secret is at /run/secrets/imap_password; here a copy of the example stands in.
    secret_copy = tmp_path / "imap_password"
    shutil.copy(SECRET_EXAMPLE, secret_copy)
    for box in _toml(config)["mailboxes"]:
        assert box["password_file"] in secret_files, f"{box['name']} reads a secret the service is not given"
        env[f"INTAKE_MAILBOXES__{box['name'].upper()}__PASSWORD_FILE"] = str(secret_copy)

    settings = load_settings(config, environ=env)

    assert settings.database.url == "postgresql+psycopg://intake:intake@postgres/intake"
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == ("mailcatcher", 1025, "none")
    box = settings.mailbox("postmottak")
    assert (box.host, box.port, box.security, box.username) == ("dovecot", 143, "none", "postmottak")
    assert box.password == SECRET_EXAMPLE.read_text(encoding="utf-8").strip()
    assert box.poll_interval_seconds == 30
    assert settings.receiver.enabled and (settings.receiver.host, settings.receiver.port) == ("0.0.0.0", 2525)
    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 8000)
    # The store and the outbox must be on the volume, or they vanish with the container.
    assert settings.storage.path == Path("/var/lib/intake/store")
    assert settings.smtp.outbox_path == Path("/var/lib/intake/outbox")
    assert settings.workflows.path == Path("/etc/intake/workflows")
    assert ("./workflows", "/etc/intake/workflows") in mounts(intake)


def test_the_password_in_the_environment_follows_postgres(compose: dict[str, Any]) -> None:
    url = compose["services"]["intake"]["environment"]["INTAKE_DATABASE__URL"]
    assert interpolate(url, {"POSTGRES_PASSWORD": "s3cret"}) == "postgresql+psycopg://intake:s3cret@postgres/intake"
    assert interpolate(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {}) == "intake"


def test_the_image_default_config_keeps_all_state_on_the_volume() -> None:
    settings = load_settings(DEPLOY / "intake.image.toml", environ={})
    assert settings.database.url == "sqlite:////var/lib/intake/intake.db"
    for path in (settings.storage.path, settings.smtp.outbox_path):
        assert path.is_relative_to("/var/lib/intake"), path
    assert settings.workflows.path == Path("/etc/intake/workflows")
    assert (settings.web.host, settings.web.port, settings.receiver.port) == ("0.0.0.0", 8000, 2525)


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_from_python_slim_and_installs_the_package_non_editable() -> None:
    steps = dockerfile()
    assert all(args.split()[0] == "python:3.11-slim" for args in only(steps, "FROM"))
    installs = [args for args in only(steps, "RUN") if "pip " in args]
    assert installs, "nothing is installed with pip"
    for args in installs:
        assert not re.search(r"(^|\s)(-e|--editable)(\s|$)", args), args
    assert any("pip wheel" in args and args.rstrip().endswith(".") for args in installs)
    assert any("pip install /wheels/" in args for args in only(final_stage(), "RUN"))


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = only(final_stage(), "USER")
    assert users, "no USER: the service would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_exposes_web_and_smtp_and_declares_the_data_volume() -> None:
    stage = final_stage()
    exposed = {int(port.split("/")[0]) for args in only(stage, "EXPOSE") for port in args.split()}
    assert {8000, 2525} <= exposed
    volumes = [v for args in only(stage, "VOLUME") for v in json.loads(args)]
    assert "/var/lib/intake" in volumes
    env = " ".join(only(stage, "ENV"))
    assert "INTAKE_CONFIG=/etc/intake/intake.toml" in env


def test_dockerfile_entrypoint_is_the_migrating_script_and_serves_by_default() -> None:
    stage = final_stage()
    entrypoint = json.loads(only(stage, "ENTRYPOINT")[-1])
    assert json.loads(only(stage, "CMD")[-1]) == ["serve"]
    copies = [args.split() for args in only(stage, "COPY")]
    destinations = {parts[-1]: parts[-2] for parts in copies}
    target = next(dest for dest in destinations if dest.endswith("/" + entrypoint[0]))
    assert target.startswith("/usr/local/bin/"), "the entrypoint must be on PATH"
    assert destinations[target] == "deploy/entrypoint.sh"
    assert destinations["/etc/intake/intake.toml"] == "deploy/intake.image.toml"


def test_every_file_the_build_copies_exists_and_passes_dockerignore() -> None:
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for args in only(dockerfile(), "COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        if "--from=" in args:
            continue
        for source in parts[:-1]:
            assert (REPO / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), f"{source} is in .dockerignore"


def _healthcheck_argv() -> list[str]:
    args = only(final_stage(), "HEALTHCHECK")[-1]
    return json.loads(args[args.index("CMD") + len("CMD"):].strip())  # type: ignore[no-any-return]


def test_dockerfile_healthcheck_uses_urllib_on_healthz() -> None:
    argv = _healthcheck_argv()
    assert argv[0] == "python" and "urllib" in argv[-1]
    assert "http://127.0.0.1:8000/healthz" in argv[-1]
    assert not any("curl" in part for part in argv), "python:3.11-slim has no curl"
    compose_check = yaml.safe_load(COMPOSE.read_text())["services"]["intake"]["healthcheck"]["test"]
    assert healthcheck_command(compose_check) == argv


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = type(self).status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if code == 200 else b'{"ok": false}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[type[_Health], int]]:
    handler = type("Health", (_Health,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_healthcheck_passes_on_200_and_fails_on_503(health_server: tuple[type[_Health], int]) -> None:
    handler, port = health_server
    # The same command on another port: 8000 may be taken on a shared machine.
    argv = [sys.executable if a == "python" else a.replace(":8000/", f":{port}/") for a in _healthcheck_argv()]
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    handler.status = 503
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode != 0


# ---------------------------------------------------------------- the container entrypoint


def test_entrypoint_is_executable_and_upgrades_before_running_intake() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    text = ENTRYPOINT.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n")
    assert 'intake db upgrade && exec intake "$@"' in text


def _run_entrypoint(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "etc" / "intake.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(f'[database]\nurl = "{url}"\n[storage]\npath = "{tmp_path / "store"}"\n', encoding="utf-8")
    env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"], "INTAKE_CONFIG": str(config)}
    env = {k: v for k, v in env.items() if not k.startswith("INTAKE_") or k == "INTAKE_CONFIG"}
    return subprocess.run([str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_entrypoint_migrates_a_fresh_database_then_runs_the_command(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    done = _run_entrypoint(tmp_path, f"sqlite:///{db}", "cases", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stderr
    assert json.loads(done.stdout) == []
    # Again on the migrated database: the upgrade is a no-op and the command still runs.
    again = _run_entrypoint(tmp_path, f"sqlite:///{db}", "cases", "list", "--json")
    assert again.returncode == 0, again.stderr


def test_entrypoint_runs_nothing_when_the_database_cannot_be_migrated(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    done = _run_entrypoint(tmp_path, f"postgresql+psycopg://intake@127.0.0.1:{port}/intake", "cases", "list",
                           "--json")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "database unreachable" in done.stderr


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database, never migrated, dropped afterwards."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database("intake_fresh"))
        except Exception as err:  # any failure to reach the server means "not available"
            need("PostgreSQL", str(err).splitlines()[0])
        yield url


def test_replicas_starting_together_on_a_fresh_postgresql_all_migrate(fresh_pg_url: str) -> None:
    # Each replica's entrypoint runs `intake db upgrade` on start; in separate processes,
    # as containers would, and all at once, which is what `docker compose up --scale` does.
    code = f"from intake.db.engine import make_engine, upgrade; upgrade(make_engine({fresh_pg_url!r}))"
    starts = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in starts]
    for p in starts:
        if p.stderr:
            p.stderr.close()
    assert [code for code, _ in outcomes] == [0, 0], [err.strip()[-300:] for _, err in outcomes]


# ---------------------------------------------------------------- the demo Dovecot


def _demo_dovecot_config(root: Path, port: int) -> Path:
    """deploy/dovecot/dovecot.conf with the container's paths, port and user swapped for a loopback run."""
    text = (DEPLOY / "dovecot" / "dovecot.conf").read_text(encoding="utf-8")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("dovecot")
        uid, gid = owner.pw_uid, owner.pw_gid
        users = ""
    else:
        uid, gid = os.geteuid(), os.getegid()
        me = pwd.getpwuid(uid).pw_name
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    (root / "mail").mkdir()
    os.chown(root / "mail", uid, gid)
    swaps = {
        "listen = *": "listen = 127.0.0.1",
        "log_path = /dev/stderr": f"log_path = {root}/dovecot.log",
        "/etc/dovecot/users": f"{root}/users",
        "uid=vmail gid=vmail home=/srv/mail/%n": f"uid={uid} gid={gid} home={root}/mail/%n",
        "port = 143": f"port = {port}",
    }
    for old, new in swaps.items():
        assert old in text, f"dovecot.conf no longer has {old!r}; update this test"
        text = text.replace(old, new)
    head = f"base_dir = {root}/run\nstate_dir = {root}/state\n{users}service anvil {{\n  chroot =\n}}\n"
    conf = root / "dovecot.conf"
    conf.write_text(head + text, encoding="utf-8")
    return conf


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(100).startswith(b"* OK")
    except OSError:
        return False


def test_demo_dovecot_serves_the_mailbox_with_the_secret_password() -> None:
    if not (shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists()):
        need("Dovecot", "the dovecot binary is not installed")
    # Unix socket paths are limited to about 100 bytes, so the folder is short and under /tmp.
    root = Path(tempfile.mkdtemp(prefix="dvd", dir="/tmp"))
    root.chmod(0o755)
    port = free_port()
    env = {
        **os.environ,
        "PATH": os.environ["PATH"] + os.pathsep + "/usr/sbin",
        "DOVECOT_CONF": str(_demo_dovecot_config(root, port)),
        "DOVECOT_USERS": str(root / "users"),
        "IMAP_PASSWORD_FILE": str(SECRET_EXAMPLE),
    }
    process = subprocess.Popen([str(DEPLOY / "dovecot" / "entrypoint.sh")], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not _greets(port):
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "dovecot did not start"
            time.sleep(0.05)
        healthcheck = str(DEPLOY / "dovecot" / "healthcheck.sh")
        assert subprocess.run([healthcheck], env={**env, "IMAP_PORT": str(port)}, timeout=30).returncode == 0
        closed = subprocess.run([healthcheck], env={**env, "IMAP_PORT": str(free_port())},
                                capture_output=True, timeout=30)
        assert closed.returncode != 0

        password = SECRET_EXAMPLE.read_text(encoding="utf-8").strip()
        if os.geteuid() == 0:
            stat = (root / "users").stat()
            assert (stat.st_mode & 0o777, stat.st_gid) == (0o640, pwd.getpwnam("dovecot").pw_gid)
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
            client.login("postmottak", password)
            client.append("INBOX", b"From: a@example.no\r\nSubject: sak 22/414\r\n\r\nHei\r\n")
            assert client.select_folder("INBOX")[b"EXISTS"] == 1
        # The way docker-compose.yml tells people to put a response into the demo mailbox.
        saved = subprocess.run(["doveadm", "-c", env["DOVECOT_CONF"], "save", "-u", "postmottak"], env=env,
                               input=b"From: b@example.no\r\nSubject: sak 22/414\r\n\r\nHei\r\n",
                               capture_output=True, timeout=30)
        assert saved.returncode == 0, saved.stderr
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
            client.login("postmottak", password)
            assert client.select_folder("INBOX")[b"EXISTS"] == 2
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client, pytest.raises(LoginError):
            client.login("postmottak", password + "x")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


def test_demo_dovecot_refuses_an_empty_secret(tmp_path: Path) -> None:
    empty = tmp_path / "imap_password"
    empty.write_text("\n", encoding="utf-8")
    env = {**os.environ, "DOVECOT_USERS": str(tmp_path / "users"), "IMAP_PASSWORD_FILE": str(empty)}
    done = subprocess.run([str(DEPLOY / "dovecot" / "entrypoint.sh")], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert "must hold a non-empty password" in done.stderr
    assert not (tmp_path / "users").exists()


def test_compose_documents_copying_the_secret() -> None:
    header = COMPOSE.read_text(encoding="utf-8")
    assert "cp deploy/secrets/imap_password.example deploy/secrets/imap_password" in header


# ---------------------------------------------------------------- README: Production


def test_every_setting_the_production_guide_names_exists() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    sections = {name: f.annotation for name, f in Settings.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    # Settings are written in backticks as `section.key` (or `section.key = value`).
    named = re.findall(r"`(" + "|".join(sections) + r")\.([a-z_]+)[` ]", text)
    assert named, "the guide names no settings"
    for section, key in named:
        model = sections[section]
        assert isinstance(model, type) and key in model.model_fields, f"{section}.{key}"
    for name in re.findall(r"INTAKE_[A-Z0-9_]+", text):
        # INTAKE_CONFIG and INTAKE_TEST_PG are not settings; INTAKE_<SECTION>__… is a pattern.
        if "__" not in name or name.endswith("_"):
            continue
        section, key = name.removeprefix("INTAKE_").lower().split("__")
        assert key in sections[section].model_fields, name  # type: ignore[union-attr]


def test_the_wheel_the_image_installs_carries_every_file_the_package_reads(tmp_path: Path) -> None:
    """The image installs the wheel, not the source tree: migrations, receipt and page templates go with it."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("intake-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO / "intake"
    kinds = {".py", ".j2", ".html", ".js", ".css", ".mako"}
    wanted = [p for p in package.rglob("*") if p.is_file() and p.suffix in kinds and "__pycache__" not in p.parts]
    missing = sorted(str(p.relative_to(REPO)) for p in wanted if str(p.relative_to(REPO)) not in names)
    assert missing == []
    assert "intake/receipts/templates/on_time.nb.txt.j2" in names
