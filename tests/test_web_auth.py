"""Logins, sessions, CSRF and lock-out; and that nothing is reachable without a session."""

from __future__ import annotations

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
from intake.web.app import create_app
from intake.web.auth import COOKIE_NAME
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


def test_secure_cookie_when_configured(settings_factory) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime.open(settings_factory(web={"secure_cookies": True}), extract=False)
    try:
        add_user(rt)
        with TestClient(create_app(rt), base_url="https://testserver") as c:
            token = _login_form(c)
            response = c.post(
                "/login",
                data={"username": "kari", "password": PASSWORD, "csrf_token": token},
                follow_redirects=False,
            )
            cookie = next(x for x in response.headers.get_list("set-cookie") if x.startswith(COOKIE_NAME))
            assert "Secure" in cookie
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


def test_five_failures_lock_the_account_for_fifteen_minutes(client: TestClient, rt: Runtime) -> None:
    for attempt in range(5):
        token = _login_form(client)
        response = client.post("/login", data={"username": "kari", "password": "feil", "csrf_token": token})
        assert response.status_code == (429 if attempt == 4 else 401)
    assert "midlertidig låst" in response.text
    # The right password does not help while the lock lasts.
    token = _login_form(client)
    locked = client.post("/login", data={"username": "kari", "password": PASSWORD, "csrf_token": token})
    assert locked.status_code == 429
    with session_scope(rt.engine) as session:
        user = session.exec(select(User).where(User.name == "kari")).one()
        assert user.locked_until is not None
        remaining = user.locked_until - utcnow()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        failures = session.exec(select(AuditLog).where(AuditLog.action == "login.failed")).all()
        assert len(failures) == 5
        # Fifteen minutes later the lock has run out.
        user.locked_until = utcnow() - timedelta(seconds=1)
        session.add(user)
    login(client)


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
