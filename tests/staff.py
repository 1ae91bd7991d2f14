"""A test client with two logins, a reviewer (kari) and an admin (anne), for the admin-only pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intake.runtime import Runtime
from intake.web.app import create_app
from tests.web_support import add_user


@pytest.fixture
def two_roles(rt: Runtime) -> Iterator[TestClient]:
    add_user(rt, "kari", role="reviewer")
    add_user(rt, "anne", role="admin")
    with TestClient(create_app(rt)) as c:
        yield c
