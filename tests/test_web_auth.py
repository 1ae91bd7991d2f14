"""Logins, sessions, CSRF and lock-out; and that nothing is reachable without a session."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import AuditLog, User, WebSession, utcnow
from intake.runtime import Runtime
from intake.web import throttle
from intake.web.app import create_app
from intake.web.auth import COOKIE_NAME, load_session, start_session
from tests.web_support import PASSWORD, add_user, login

# Monitoring endpoints are open like any health check; they hold counts and states, no personal data.
OPEN_PATHS = {"/login", "/healthz", "/metrics"}


@pytest.fixture
def app(rt: Runtime) -> FastAPI:
    add_user(rt)
    return create_app(rt)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _login_form(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match
    return match.group(1)


def _all_routes(app: FastAPI) -> list[tuple[str, set[str] | None]]:
    """Every (path, methods) the app answers, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before routers were included lazily
        return [(r.path, getattr(r, "methods", None)) for r in app.routes]  # type: ignore[attr-defined]
    return [(c.path or "", c.methods) for c in iter_route_contexts(app.routes)]


def test_every_route_needs_a_session(app: FastAPI, client: TestClient) -> None:
    routes = _all_routes(app)
    # Besides the routes with methods, only the static files (CSS, JS) are mounted.
    assert [path for path, methods in routes if not methods] == ["/static"]
    checked = 0
    for route_path, methods in routes:
        if route_path in OPEN_PATHS or not methods:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route_path)
        for method in methods:
            if method == "HEAD":
                continue
            response = client.request(method, path, follow_redirects=False)
            checked += 1
            if route_path.startswith("/api/"):
                assert response.status_code == 401, (method, path, response.status_code)
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/login"), (method, path)
    assert checked >= 20
    # The generated documentation pages are not served openly.
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path, follow_redirects=False).status_code == 404


def test_a_forged_cookie_is_no_session(client: TestClient) -> None:
    client.cookies.set(COOKIE_NAME, "not-a-real-token")
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert client.get("/api/cases").status_code == 401


def test_login_sets_a_safe_cookie_and_returns_to_the_page_asked_for(client: TestClient) -> None:
    first = client.get("/cases?x=1", follow_redirects=False)
    assert first.headers["location"] == "/login?next=/cases%3Fx%3D1"
    token = _login_form(client)
    response = client.post(
        "/login",
        data={"username": "kari", "password": PASSWORD, "csrf_token": token, "next": "/cases?x=1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/cases?x=1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE_NAME))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert client.get("/cases").status_code == 200


@pytest.mark.parametrize(
    ("web", "secure"),
    [({"host": "127.0.0.1"}, False), ({"host": "0.0.0.0"}, True), ({"host": "::1"}, False),
     ({"host": "0.0.0.0", "secure_cookies": False}, False), ({"host": "127.0.0.1", "secure_cookies": True}, True)],
)
def test_cookies_are_secure_unless_served_on_loopback(settings_factory, web: dict[str, object], secure: bool) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime.open(settings_factory(web=web), extract=False)
    try:
        add_user(rt)
        with TestClient(create_app(rt), base_url="https://testserver") as c:
            form = c.get("/login")
            login_cookie = next(x for x in form.headers.get_list("set-cookie") if "intake_login_csrf" in x)
            token = _login_form(c)
            response = c.post("/login", data={"username": "kari", "password": PASSWORD, "csrf_token": token},
                              follow_redirects=False)
            assert response.status_code == 303, response.text
            cookie = next(x for x in response.headers.get_list("set-cookie") if "intake_session=" in x)
            for each in (cookie, login_cookie):
                # __Host- cookies must be Secure, have Path=/ and no Domain, or a browser drops them.
                assert each.startswith("__Host-") is secure and ("Secure" in each) is secure, each
                assert "Path=/" in each and "Domain" not in each
            assert c.get("/queue", follow_redirects=False).status_code == 200
    finally:
        rt.close()


def test_login_refuses_an_outside_redirect(client: TestClient) -> None:
    token = _login_form(client)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            "/login",
            data={"username": "kari", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"
        token = _login_form(client)


def test_login_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "kari", "password": PASSWORD, "csrf_token": "wrong"})
    assert response.status_code == 400
    assert COOKIE_NAME not in client.cookies


def test_posts_need_the_session_csrf_token(client: TestClient, rt: Runtime) -> None:
    csrf = login(client)
    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200
    done = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login"
    with session_scope(rt.engine) as session:
        assert session.exec(select(WebSession)).all() == []
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_even_for_a_copied_cookie(client: TestClient) -> None:
    csrf = login(client)
    stolen = client.cookies.get(COOKIE_NAME)
    client.post("/logout", data={"csrf_token": csrf})
    client.cookies.set(COOKIE_NAME, stolen or "")
    assert client.get("/queue", follow_redirects=False).status_code == 303


def _try(client: TestClient, name: str, password: str) -> tuple[int, str]:
    response = client.post("/login", data={"username": name, "password": password, "csrf_token": _login_form(client)})
    # The page echoes the name typed and carries a fresh form token; the rest must not differ.
    text = re.sub(r'value="[^"]*"', 'value=""', response.text).replace(name, "NAME")
    return response.status_code, text


def test_failures_slow_down_the_client_but_never_lock_the_account(app: FastAPI, rt: Runtime) -> None:
    with TestClient(app, client=("192.0.2.10", 1000)) as attacker, TestClient(app, client=("192.0.2.20", 1000)) as kari:
        for _ in range(throttle.FREE):
            assert _try(attacker, "kari", "feil")[0] == 401
        # The attacker's address now waits, even with the right password...
        status, text = _try(attacker, "kari", PASSWORD)
        assert status == 429 and "Vent litt" in text
        # ...but kari, from her own address, gets in: five failures lock nobody out.
        login(kari)
    with session_scope(rt.engine) as session:
        assert len(session.exec(select(AuditLog).where(AuditLog.action == "login.failed")).all()) == throttle.FREE + 1


def test_guessing_one_account_from_many_addresses_delays_it_a_minute_at_most(rt: Runtime) -> None:
    start = utcnow()
    with session_scope(rt.engine) as session:
        for n in range(40):
            throttle.record_failure(session, throttle.keys_for(f"198.51.100.{n}", "kari"), start)
        until = throttle.wait_until(session, throttle.keys_for("203.0.113.5", "kari"), start)
        assert until is not None and until - start <= throttle.ACCOUNT_MAX_WAIT
        assert throttle.wait_until(session, throttle.keys_for("203.0.113.5", "kari"), until) is None
        # The client that failed forty times in a row waits the longest.
        assert throttle.wait_until(session, throttle.keys_for("198.51.100.0", "ola"), start) is None


def test_a_waiting_name_that_exists_and_one_that_does_not_get_the_same_answer(app: FastAPI) -> None:
    answers = {}
    for number, name in enumerate(("kari", "nobody")):
        with TestClient(app, client=(f"192.0.2.{30 + number}", 1000)) as c:
            first = [_try(c, name, "feil") for _ in range(throttle.FREE)]
            answers[name] = (first, _try(c, name, PASSWORD if name == "kari" else "feil"))
    assert answers["kari"] == answers["nobody"]
    assert answers["kari"][1][0] == 429


def test_every_failed_login_is_logged_with_the_client_address(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(app, client=("192.0.2.77", 1000)) as c, caplog.at_level(logging.WARNING, "intake.web.auth"):
        _try(c, "nobody", "x")
        _try(c, "kari", "feil")
        for _ in range(throttle.FREE):
            _try(c, "kari\r\nforged line", "feil")
    lines = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert len(lines) == throttle.FREE + 2
    assert all("192.0.2.77" in line for line in lines)
    assert "unknown user" in lines[0] and "wrong password" in lines[1] and "must wait" in lines[-1]
    assert not any("\n" in line for line in lines)


def test_a_session_ends_twelve_hours_after_the_login_however_busy(app: FastAPI, rt: Runtime) -> None:
    web = rt.settings.web
    start = utcnow() - timedelta(hours=13)
    with session_scope(rt.engine) as session:
        user = session.exec(select(User).where(User.name == "kari")).one()
        token = start_session(session, user, web, now=start)
    with session_scope(rt.engine) as session:
        # A request every nine hours keeps an idle session alive, but never past the limit.
        assert load_session(session, token, web, now=start + timedelta(hours=9)) is not None
    with session_scope(rt.engine) as session:
        assert load_session(session, token, web, now=start + timedelta(hours=11, minutes=59)) is not None
    with session_scope(rt.engine) as session:
        assert load_session(session, token, web, now=start + timedelta(hours=12, minutes=1)) is None


def test_a_session_created_sixty_days_ago_is_over(client: TestClient, rt: Runtime) -> None:
    login(client)
    with session_scope(rt.engine) as session:
        row = session.exec(select(WebSession)).one()
        row.created_at = utcnow() - timedelta(days=60)
        row.expires_at = utcnow() + timedelta(hours=5)
        session.add(row)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_unknown_user_and_wrong_password_look_the_same(client: TestClient) -> None:
    token = _login_form(client)
    unknown = client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token})
    token = _login_form(client)
    wrong = client.post("/login", data={"username": "kari", "password": "x", "csrf_token": token})
    assert unknown.status_code == wrong.status_code == 401
    assert "Feil brukernavn eller passord." in unknown.text and "Feil brukernavn eller passord." in wrong.text


def test_security_headers_on_pages(client: TestClient) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_password_is_stored_as_argon2(rt: Runtime) -> None:
    add_user(rt, name="ola", role="admin")
    with session_scope(rt.engine) as session:
        user = session.exec(select(User).where(User.name == "ola")).one()
        assert user.password_hash.startswith("$argon2id$")
        assert user.role == "admin"
