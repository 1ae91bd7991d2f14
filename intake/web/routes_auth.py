"""Login and logout.

The login form has its own CSRF token in a short-lived cookie (double submit),
since there is no session yet to keep it in.
"""

from __future__ import annotations

import hmac
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from intake.db.engine import session_scope
from intake.db.models import utcnow
from intake.runtime import Runtime
from intake.web.auth import AuthError, LoginDelayed, authenticate, cookie_name, end_session, start_session
from intake.web.deps import PostDep, RtDep, client_address, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "intake_login_csrf"


def login_cookie_name(rt: Runtime) -> str:
    """The login form's own cookie, ``__Host-`` prefixed like the session cookie when Secure."""
    return f"__Host-{LOGIN_CSRF_COOKIE}" if rt.settings.web.cookies_secure else LOGIN_CSRF_COOKIE


def safe_next(target: str | None) -> str:
    """Only paths on this site: an absolute URL or ``//host`` would make the login an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, rt: RtDep, *, error: str = "", status_code: int = 200, name: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        title="Logg inn",
        status_code=status_code,
        login_token=token,
        next=safe_next(request.query_params.get("next")),
        error=error,
        name=name,
    )
    # Path "/" because the __Host- prefix allows no other; the cookie is short-lived and strict.
    response.set_cookie(
        login_cookie_name(rt),
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=rt.settings.web.cookies_secure,
        path="/",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, rt: RtDep) -> Response:
    return _login_page(request, rt)


@router.post("/login")
def login(
    request: Request,
    rt: RtDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(login_cookie_name(rt), "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(request, rt, error="Skjemaet var utløpt. Prøv igjen.", status_code=400, name=username)
    failure: AuthError | None = None
    token = ""
    with session_scope(rt.engine) as session:
        try:
            user = authenticate(session, username.strip(), password, client=client_address(request))
            token = start_session(session, user, rt.settings.web)
        except AuthError as err:
            # Caught inside the transaction so the failure count is saved although the login is refused.
            failure = err
    if failure is not None:
        if isinstance(failure, LoginDelayed):
            seconds = max(1, math.ceil((failure.until - utcnow()).total_seconds()))
            page = _login_page(request, rt, error=f"{failure} Du kan prøve igjen om {_wait_text(seconds)}.",
                               status_code=429, name=username)
            page.headers["Retry-After"] = str(seconds)
            return page
        return _login_page(request, rt, error=str(failure), status_code=401, name=username)
    web = rt.settings.web
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        cookie_name(web),
        token,
        max_age=int(web.session_max_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=web.cookies_secure,
        path="/",
    )
    response.delete_cookie(login_cookie_name(rt), path="/", secure=web.cookies_secure, httponly=True,
                           samesite="strict")
    return response


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} sekund" if seconds == 1 else f"{seconds} sekunder"
    minutes = math.ceil(seconds / 60)
    return "ett minutt" if minutes == 1 else f"{minutes} minutter"


@router.post("/logout")
def logout(request: Request, rt: RtDep, staff: PostDep) -> Response:
    web = rt.settings.web
    with session_scope(rt.engine) as session:
        end_session(session, request.cookies.get(cookie_name(web)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(cookie_name(web), path="/", httponly=True, samesite="lax", secure=web.cookies_secure)
    return response
