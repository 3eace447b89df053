"""Properties of the alert policy over any sequence of runs (Hypothesis):
statuses, period rollovers, silences, recovery and held runs in any order.

- On every dedup key, an incident's first trigger (reason open/degraded) is
  followed by exactly one resolve before the next such trigger; in between
  only escalate/deescalate/renotify triggers; never a resolve for a key that
  was never triggered.
- Every trigger is eventually matched by a resolve: once billing is healthy
  and notifications can go out, `resolve_after` runs close everything.
- Nothing is ever sent for a muted trigger or from a held run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing_monitor.alerting.policy import Event, Incident, Observation, Track, policy_for
from billing_monitor.checks.contract import Status
from billing_monitor.checks.policy import AlertPolicy
from tests.alerting_support import T0

FIRST = {"open", "degraded"}
UPDATE = {"escalate", "deescalate", "renotify"}


@dataclass(frozen=True)
class Run:
    status: Status
    next_period: bool  # the run lands in the next billing period
    muted: bool
    recovered: bool
    deliverable: bool


runs = st.builds(Run, st.sampled_from(list(Status)), st.booleans(), st.booleans(),
                 st.booleans(), st.sampled_from([True, True, True, False]))
policies = st.builds(
    AlertPolicy, trigger_after=st.integers(1, 3), resolve_after=st.integers(1, 3),
    degraded_after=st.integers(1, 3), renotify_minutes=st.sampled_from([None, 5, 10, 30]),
    enabled=st.sampled_from([True, True, True, False]),
)


def drive(cfg: AlertPolicy, seq: list[Run]) -> list[tuple[Run, list[Event]]]:
    policy = policy_for(cfg)
    week = 47
    track = Track("x", Incident(f"billing/x/2026-W{week}"), Incident("billing/x/degraded"))
    at, out = T0, []
    for run in seq:
        at += timedelta(minutes=5)
        week += run.next_period
        obs = Observation(run.status, f"billing/x/2026-W{week}", run.recovered, at,
                          run.deliverable)
        step = policy.step(track, obs, run.muted)
        track = step.track
        out.append((run, list(step.events)))
    return out


def check_well_formed(events: list[Event]) -> dict[str, bool]:
    """Per key: is an incident open (triggered, not yet resolved) at the end."""
    open_: dict[str, bool] = {}
    for e in events:
        if e.action == "trigger":
            expected = UPDATE if open_.get(e.key) else FIRST
            assert e.reason in expected, (e, open_)
            open_[e.key] = True
        else:
            assert e.action == "resolve" and open_.get(e.key), (e, open_)
            open_[e.key] = False
    return open_


@given(policies, st.lists(runs, max_size=40))
def test_every_trigger_gets_exactly_one_resolve_before_the_next(
    cfg: AlertPolicy, seq: list[Run],
) -> None:
    steps = drive(cfg, seq)
    events = [e for _, evs in steps for e in evs]
    check_well_formed(events)
    healthy = Run(Status.OK, False, False, True, True)
    tail = drive(cfg, [*seq, *[healthy] * cfg.resolve_after])
    after = check_well_formed([e for _, evs in tail for e in evs])
    assert not any(after.values()), after  # all resolved once billing is healthy


@given(policies, st.lists(runs, max_size=40))
def test_muted_and_held_runs_send_no_trigger(cfg: AlertPolicy, seq: list[Run]) -> None:
    steps = drive(cfg, seq)
    for run, events in steps:
        if not run.deliverable:
            assert events == []
        if run.muted:
            assert all(e.action == "resolve" for e in events)
