"""The staff pages' usual set-up: the seeded consultation, a logged-in staff member and the CSRF token.

A test module picks the role with a ``staff_role`` fixture of its own (an admin by default, who may use
every page; what a reviewer may not is tests/test_web_roles.py's).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intake.runtime import Runtime
from intake.web.app import create_app
from tests.web_support import Seeded, add_user, login, seed


@pytest.fixture
def staff_role() -> str:
    return "admin"


@pytest.fixture
def seeded(rt: Runtime, staff_role: str) -> Seeded:
    add_user(rt, role=staff_role)
    return seed(rt)


@pytest.fixture
def client(rt: Runtime, seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(rt)) as c:
        yield c


@pytest.fixture
def reviewer_client(rt: Runtime) -> Iterator[TestClient]:
    """A reviewer logged in, on a database with nothing seeded."""
    add_user(rt, role="reviewer")
    with TestClient(create_app(rt)) as c:
        login(c)
        yield c


@pytest.fixture
def csrf(client: TestClient) -> str:
    return login(client)
