"""The README's nginx + gunicorn setup, shared by the slow-client and proxy-error tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slowclient.deployment import DATABASE_URL, Deployment, deployment


@pytest.fixture(scope="package")
def deployed() -> Iterator[Deployment]:
    """Run the README's start commands, and its stop commands after the package's tests."""
    setup = deployment(DATABASE_URL)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()
