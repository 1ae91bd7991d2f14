"""Builds the review application around a running service."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from intake.runtime import Runtime
from intake.web import (
    routes_actions,
    routes_api,
    routes_archive,
    routes_auth,
    routes_cases,
    routes_failed,
    routes_health,
    routes_mailboxes,
    routes_publication,
    routes_queue,
    routes_search,
    routes_submission,
    routes_summary,
)
from intake.web.deps import AdminRequired, CsrfRejected, LoginRequired, render

STATIC = Path(__file__).parent / "static"

# No inline script or style anywhere, so the policy can forbid both; this blunts any injection we missed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    """Headers every response gets, unless a download set stricter ones itself."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def create_app(rt: Runtime) -> FastAPI:
    """The FastAPI application for ``rt``; ``intake serve`` runs it with uvicorn on ``[web] host/port``."""
    app = FastAPI(
        title="intake",
        summary="Postmottak for høringer: innsendinger, saker og publiseringslister.",
        version="1",
        # The default documentation pages would be open to anyone; the schema is served behind the login.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.rt = rt
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        routes_auth,
        routes_health,
        routes_cases,
        routes_queue,
        routes_submission,
        routes_actions,
        routes_archive,
        routes_search,
        routes_failed,
        routes_mailboxes,
        routes_publication,
        routes_summary,
        routes_api,
    ):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": "login required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Cookie realm="intake"'},
            )
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        return RedirectResponse("/login?next=" + quote(target, safe="/"), status_code=303)

    @app.exception_handler(AdminRequired)
    async def admin_required(request: Request, exc: AdminRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "admin role required"}, status_code=403)
        return render(request, "error.html", status_code=403, title="Bare for administratorer",
                      message="Dette kan bare en administrator gjøre. Spør en administrator om hjelp.", back="/")

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Skjemaet ble avvist",
            message="Skjemaet var utløpt eller kom ikke fra denne siden. Last siden på nytt og prøv igjen.",
            back=request.headers.get("referer", "/") if _same_site(request) else "/",
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        titles = {403: "Ikke tilgang", 404: "Finnes ikke", 405: "Ikke tillatt"}
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            title=titles.get(exc.status_code, "Feil"),
            message=str(exc.detail),
            back="/",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        # A page address with letters where a number belongs is simply a page that does not exist.
        return render(
            request, "error.html", status_code=404, title="Finnes ikke", message="Siden finnes ikke.", back="/"
        )

    return app


def _same_site(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return referer.startswith(str(request.base_url))
