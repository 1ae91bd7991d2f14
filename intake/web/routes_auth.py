"""Login and logout.

The login form has its own CSRF token in a short-lived cookie (double submit),
since there is no session yet to keep it in.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from intake.db.engine import session_scope
from intake.localtime import oslo
from intake.web.auth import (
    COOKIE_NAME,
    SESSION_LIFETIME,
    AuthError,
    LockedOut,
    authenticate,
    end_session,
    start_session,
)
from intake.web.deps import PostDep, RtDep, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "intake_login_csrf"


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
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=rt.settings.web.secure_cookies,
        path="/login",
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
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(request, rt, error="Skjemaet var utløpt. Prøv igjen.", status_code=400, name=username)
    failure: AuthError | None = None
    token = ""
    with session_scope(rt.engine) as session:
        try:
            user = authenticate(session, username.strip(), password)
            token = start_session(session, user)
        except AuthError as err:
            # Caught inside the transaction so the failure count is saved although the login is refused.
            failure = err
    if failure is not None:
        if isinstance(failure, LockedOut):
            message = f"{failure} Prøv igjen etter {oslo(failure.until)}."
            return _login_page(request, rt, error=message, status_code=429, name=username)
        return _login_page(request, rt, error=str(failure), status_code=401, name=username)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=rt.settings.web.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, rt: RtDep, staff: PostDep) -> Response:
    with session_scope(rt.engine) as session:
        end_session(session, request.cookies.get(COOKIE_NAME))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response
