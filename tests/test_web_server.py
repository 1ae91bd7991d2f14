"""The server ``intake serve`` runs: uvicorn on [web] host/port, answering /healthz and the login page."""

from __future__ import annotations

import threading
import time

import httpx

from intake.runtime import Runtime
from intake.web.server import build_server
from tests.ports import free_port


def test_build_server_listens_on_the_configured_port(settings_factory) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    rt = Runtime.open(settings_factory(web={"host": "127.0.0.1", "port": port}), extract=False)
    server = build_server(rt)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["ok"] is True
        assert "server" not in health.headers
        login = httpx.get(f"http://127.0.0.1:{port}/queue", timeout=5)
        assert login.status_code == 303 and login.headers["location"].startswith("/login")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()
