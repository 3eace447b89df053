"""Fixtures the Stripe tests share: the fake Stripe server, a cursor store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from billing_monitor.checks.stripe.state import SqlCursorStore
from tests.peers.fake_stripe import FakeStripe, fake_stripe


@pytest.fixture
def fake() -> Iterator[tuple[FakeStripe, str]]:
    with fake_stripe() as f:
        yield f


@pytest.fixture
def store(tmp_path: Path) -> SqlCursorStore:
    return SqlCursorStore(create_engine(f"sqlite:///{tmp_path / 'state.db'}"))
