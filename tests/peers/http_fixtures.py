"""pytest fixtures for the HTTP peers (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.http_peers import Tls, make_tls
from tests.peers.http_services import GoogleChatPeer, HealthchecksPeer, PagerDutyPeer, SlackPeer


@pytest.fixture(scope="session")
def tls() -> Tls:
    return make_tls()


@pytest.fixture
def pagerduty_peer(tls: Tls) -> Iterator[PagerDutyPeer]:
    peer = PagerDutyPeer(tls)
    yield peer
    peer.close()


@pytest.fixture
def slack_peer() -> Iterator[SlackPeer]:
    peer = SlackPeer()
    yield peer
    peer.close()


@pytest.fixture
def google_chat_peer() -> Iterator[GoogleChatPeer]:
    peer = GoogleChatPeer()
    yield peer
    peer.close()


@pytest.fixture
def healthchecks_peer() -> Iterator[HealthchecksPeer]:
    peer = HealthchecksPeer()
    yield peer
    peer.close()
