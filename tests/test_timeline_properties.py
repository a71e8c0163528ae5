"""Property tests of the playback timeline state machine (SYNC.md), driven by random histories.

A history is a sequence of (delay, operation, lead) steps applied from an empty timeline; time only
moves forward. Timelines are two-segment states: a change anchored in the future keeps the
segment it replaces (`previous`), which describes the playhead until the anchor. Operations that
a state refuses (a `Problem`) leave the timeline as it was, exactly as a service would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchparty.errors import ErrorCode, Problem, ValidationProblem
from watchparty.parties.errors import TimelineError
from watchparty.parties.timeline import MAX_RATE, MIN_RATE, PlaybackState, Timeline

T0 = 1_790_000_000_000.0  # an epoch-ms instant in 2026: anchors are large numbers
USERS = ["u1", "u2", "u3", "u4"]
EPS = 1e-6

durations = st.none() | st.floats(0.5, 7200.0)
rates = st.sampled_from([0.25, 0.5, 1.0, 1.25, 2.0]) | st.floats(MIN_RATE, MAX_RATE)
leads = st.floats(0.0, 2000.0)
delays = st.floats(0.0, 20_000.0)
timeouts = st.floats(1.0, 60_000.0)
user_sets = st.frozensets(st.sampled_from(USERS), max_size=4)

# ("seek", fraction): a fraction of the duration (of an hour when unknown), sometimes past the end.
operations = st.one_of(
    st.just(("play",)),
    st.just(("pause",)),
    st.just(("end",)),
    st.just(("clear",)),
    st.just(("timeout",)),
    st.tuples(st.just("seek"), st.floats(0.0, 1.2)),
    st.tuples(st.just("set_rate"), rates),
    st.tuples(st.just("change_item"), durations, st.booleans()),
    st.tuples(st.just("begin_wait"), user_sets, timeouts),
    st.tuples(st.just("ready"), st.sampled_from(USERS)),
    st.tuples(st.just("release"), user_sets),
)
JUMPS = {"seek", "change_item", "clear"}  # the operations allowed to move the playhead
steps = st.lists(st.tuples(delays, operations, leads), max_size=40)
smooth_steps = st.lists(
    st.tuples(delays, operations.filter(lambda op: op[0] not in JUMPS), leads), max_size=40
)


def apply(tl: Timeline, op: tuple[Any, ...], now: float, lead: float) -> Timeline:
    kind = op[0]
    try:
        if kind == "play":
            return tl.play(now, lead)
        if kind == "pause":
            return tl.pause(now, lead)
        if kind == "end":
            return tl.end(now)
        if kind == "clear":
            return tl.clear(now)
        if kind == "timeout":
            return tl.wait_timeout(now, lead)
        if kind == "seek":
            return tl.seek(op[1] * (tl.duration or 3600.0), now, lead)
        if kind == "set_rate":
            return tl.set_rate(op[1], now, lead)
        if kind == "change_item":
            return tl.change_item(f"item-{tl.revision}", op[1], now, autoplay=op[2], lead_ms=lead)
        if kind == "begin_wait":
            return tl.begin_wait(now, op[1], op[2])
        if kind == "ready":
            return tl.member_ready(op[1], now, lead)
        if kind == "release":
            return tl.release(op[1], now, lead)
    except Problem:
        return tl
    raise AssertionError(kind)


def run(
    start: Timeline, history: list[tuple[float, tuple[Any, ...], float]], t0: float = T0
) -> Iterator[tuple[Timeline, tuple[Any, ...], float, Timeline]]:
    """Yield (before, operation, now, after) for every step of the history, starting at `t0`."""
    tl, now = start, t0
    for delay, op, lead in history:
        now += delay
        after = apply(tl, op, now, lead)
        yield tl, op, now, after
        tl = after


@st.composite
def playing_item(draw: st.DrawFn) -> Timeline:
    """A timeline with an item loaded (playing or paused), as `change_item` leaves it."""
    return Timeline().change_item(
        "item-0", draw(durations), T0, autoplay=draw(st.booleans()), lead_ms=draw(leads)
    )


@st.composite
def reachable(draw: st.DrawFn) -> tuple[Timeline, float]:
    """Any timeline a history can produce from a loaded item, and the time the history ended."""
    tl, now = draw(playing_item()), T0
    for _before, _op, now, after in run(tl, draw(steps)):  # noqa: B007
        tl = after
    return tl, now


@settings(max_examples=200)
@given(start=playing_item(), history=smooth_steps)
def test_position_never_jumps_without_a_seek(start: Timeline, history: list[Any]) -> None:
    for before, op, now, after in run(start, history):
        if op[0] == "play" and before.state is PlaybackState.ENDED:
            assert after.position_at(after.anchor_ms) == 0.0  # a restart, at its anchor
            continue
        assert after.position_at(now) == before.position_at(now), (op, before, after)
        # Continuous at the anchor too: the change takes over where the old segment got to.
        if after is not before and after.previous is not None:
            at = after.anchor_ms
            assert after.position_at(at) == pytest.approx(
                after.previous.position_at(at, after.duration), abs=EPS
            ), (op, before, after)


@settings(max_examples=300)
@given(start=playing_item(), history=steps, probes=st.lists(st.floats(0.0, 1.0), max_size=6))
def test_before_its_anchor_a_change_has_not_happened(
    start: Timeline, history: list[Any], probes: list[float]
) -> None:
    """Two-segment states: until the anchor the segment that described the playhead when the
    change was made still does; from the anchor on only the new segment counts. A change made
    before a pending change's anchor replaces it and keeps the same `previous`."""
    for before, op, now, after in run(start, history):
        if after is before or op[0] in ("change_item", "clear"):
            continue
        base = before.base(now)
        if before.pending(now) and after.previous is not None:
            assert after.previous == before.previous, (op, before, after)
        for fraction in probes:
            t = now + fraction * max(0.0, after.anchor_ms - now)
            if t < after.anchor_ms:
                assert after.position_at(t) == base.position_at(t, after.duration), (op, t)
            later = after.anchor_ms + fraction * 60_000.0
            alone = replace(after, previous=None)
            assert after.position_at(later) == alone.position_at(later)
        if after.previous is not None:
            assert after.previous.anchor_ms <= now < after.anchor_ms
            assert after.state in (PlaybackState.PLAYING, PlaybackState.PAUSED)


@settings(max_examples=200)
@given(start=playing_item(), history=steps)
def test_revision_increases_by_exactly_one_per_change(start: Timeline, history: list[Any]) -> None:
    assert start.revision == 1
    for before, op, _now, after in run(start, history):
        if after is before:
            continue  # a no-op: same object, same revision, nothing to store or publish
        assert after.revision == before.revision + 1, (op, before, after)


@settings(max_examples=200)
@given(start=playing_item(), history=steps)
def test_no_op_is_recognisable(start: Timeline, history: list[Any]) -> None:
    """An unchanged revision always means the very same timeline (never a silent edit)."""
    for before, _op, _now, after in run(start, history):
        assert (after.revision == before.revision) == (after is before)


@settings(max_examples=200)
@given(state=reachable(), gap=delays, lead=leads, later=st.floats(0.0, 60_000.0))
def test_pause_then_play_preserves_position(
    state: tuple[Timeline, float], gap: float, lead: float, later: float
) -> None:
    tl, now = state
    if tl.state is PlaybackState.PAUSED:
        assert tl.pause(now) is tl  # paused, or a pause already pending
        return
    try:
        paused = tl.pause(now)  # no lead: at once
    except TimelineError:
        assert tl.state in (PlaybackState.IDLE, PlaybackState.ENDED)
        return
    assert paused.state is PlaybackState.PAUSED
    assert paused.previous is None
    assert paused.position == tl.position_at(now)
    assert paused.position_at(now + gap) == paused.position
    resumed = paused.play(now + gap, lead)
    assert resumed.state is PlaybackState.PLAYING
    assert resumed.anchor_ms == now + gap + lead
    # Held until the anchor (the pause is its previous segment), then moving from there.
    if resumed.anchor_ms > now + gap:
        assert resumed.previous is not None and resumed.previous.state is PlaybackState.PAUSED
    assert resumed.position_at(now + gap) == paused.position
    assert resumed.position_at(now + gap + lead) == paused.position
    expected = paused.position + later * resumed.rate / 1000
    if resumed.duration is not None:
        expected = min(expected, resumed.duration)
    assert resumed.position_at(now + gap + lead + later) == pytest.approx(expected, abs=EPS)


@settings(max_examples=200)
@given(state=reachable(), lead=st.floats(1.0, 2000.0), gap=st.floats(0.0, 4000.0))
def test_pause_with_a_lead_then_play(
    state: tuple[Timeline, float], lead: float, gap: float
) -> None:
    """A pause while moving lands at now + lead where the playhead gets to; a play pressed before
    that anchor cancels it and playback runs on as if nothing happened."""
    tl, now = state
    base = tl.base(now)
    if tl.state is not PlaybackState.PLAYING or not base.moving_at(now):
        return
    paused = tl.pause(now, lead)
    assert paused.anchor_ms == now + lead
    assert paused.previous == base
    assert paused.position == pytest.approx(base.position_at(now + lead, tl.duration), abs=EPS)
    resumed = paused.play(now + gap, lead)
    assert resumed.revision == paused.revision + 1
    if now + gap < paused.anchor_ms and base.rate == paused.rate:
        assert resumed.previous is None
        for t in (now + gap, now + lead, now + lead + gap * 10):
            assert resumed.position_at(t) == base.position_at(t, tl.duration)
    else:
        assert (
            resumed.position_at(resumed.anchor_ms)
            == pytest.approx(paused.position_at(now + gap), abs=EPS)
            or gap < lead
        )


@settings(max_examples=200)
@given(state=reachable(), rate=rates, gap=delays, later=st.floats(0.0, 60_000.0))
def test_rate_change_preserves_position_at_the_instant(
    state: tuple[Timeline, float], rate: float, gap: float, later: float
) -> None:
    tl, now = state
    now += gap
    changed = tl.set_rate(rate, now)
    assert changed.rate == rate
    assert changed.state is tl.state
    assert changed.position_at(now) == tl.position_at(now)
    if tl.state is PlaybackState.PLAYING and now >= tl.anchor_ms:
        expected = tl.position_at(now) + later * rate / 1000
        if tl.duration is not None:
            expected = min(expected, tl.duration)
        assert changed.position_at(now + later) == pytest.approx(expected, abs=EPS)


@settings(max_examples=200)
@given(state=reachable(), offsets=st.lists(st.floats(-60_000.0, 3_600_000.0), max_size=8))
def test_position_stays_within_the_item_and_moves_forward_at_the_rate(
    state: tuple[Timeline, float], offsets: list[float]
) -> None:
    tl, now = state
    times = sorted(now + offset for offset in offsets)
    positions = [tl.position_at(t) for t in times]
    for position in positions:
        assert position >= 0
        if tl.duration is not None:
            assert position <= tl.duration
    for (t1, p1), (t2, p2) in pairwise(zip(times, positions, strict=True)):
        if tl.previous is not None and t1 < tl.anchor_ms <= t2:
            continue  # the change takes effect in between (a seek may move backwards)
        rate = tl.previous.rate if tl.previous is not None and t2 < tl.anchor_ms else tl.rate
        assert p2 >= p1
        assert p2 - p1 <= (t2 - t1) * rate / 1000 + EPS


@settings(max_examples=200)
@given(
    state=reachable(),
    bad=st.floats(max_value=-1e-9) | st.just(math.nan) | st.just(math.inf) | st.just(-math.inf),
    past=st.floats(1e-6, 1e6),
    lead=leads,
)
def test_seek_validation(
    state: tuple[Timeline, float], bad: float, past: float, lead: float
) -> None:
    tl, now = state
    candidates = [bad] + ([tl.duration + past] if tl.duration is not None else [])
    for position in candidates:
        with pytest.raises(ValidationProblem) as caught:
            tl.seek(position, now, lead)
        if tl.state is PlaybackState.IDLE:
            assert isinstance(caught.value, TimelineError)
        else:
            assert caught.value.field == "positionSeconds"
        assert caught.value.code is ErrorCode.VALIDATION


@settings(max_examples=200)
@given(state=reachable(), fraction=st.floats(0.0, 1.0), lead=leads)
def test_valid_seek_lands_exactly(
    state: tuple[Timeline, float], fraction: float, lead: float
) -> None:
    tl, now = state
    if tl.state is PlaybackState.IDLE:
        with pytest.raises(TimelineError):
            tl.seek(0.0, now, lead)
        return
    target = fraction * (tl.duration or 3600.0)
    sought = tl.seek(target, now, lead)
    assert sought.revision == tl.revision + 1
    expected = PlaybackState.PAUSED if tl.state is PlaybackState.ENDED else tl.state
    assert sought.state is expected
    if sought.previous is not None:  # while moving: lands at its anchor, the old runs on
        assert sought.anchor_ms == now + lead
        assert sought.position_at(now) == tl.position_at(now)
        assert sought.position_at(now + lead) == target
    else:
        assert sought.position_at(now) == target


@settings(max_examples=200)
@given(
    state=reachable(), bad=st.floats(allow_nan=True).filter(lambda r: not MIN_RATE <= r <= MAX_RATE)
)
def test_rate_validation(state: tuple[Timeline, float], bad: float) -> None:
    tl, now = state
    with pytest.raises(ValidationProblem) as caught:
        tl.set_rate(bad, now)
    assert caught.value.field == "rate"


@settings(max_examples=200)
@given(start=playing_item(), history=steps, overdue=st.floats(0.0, 10_000.0), lead=leads)
def test_wait_always_ends(start: Timeline, history: list[Any], overdue: float, lead: float) -> None:
    """Whatever happens during a wait, its deadline never moves and passing it resumes playback."""
    for before, op, now, after in run(start, history):
        if after.state is not PlaybackState.WAITING:
            continue
        assert after.wait_deadline_ms is not None
        if before.state is PlaybackState.WAITING:
            assert after.wait_deadline_ms == before.wait_deadline_ms, op
        else:
            assert before.state is PlaybackState.PLAYING
            assert op[0] == "begin_wait"
            assert after.wait_deadline_ms == now + op[2]
        assert after.wait_deadline_ms - now <= 60_000.0
        resumed = after.wait_timeout(after.wait_deadline_ms + overdue, lead)
        assert resumed.state is PlaybackState.PLAYING
        assert resumed.waiting_for == frozenset()
        assert resumed.wait_deadline_ms is None
        assert resumed.anchor_ms == after.wait_deadline_ms + overdue + lead
        assert resumed.position_at(resumed.anchor_ms) == after.position
        # Before the deadline the timer is a no-op (a timer job that fires early or twice).
        if now < after.wait_deadline_ms:
            assert after.wait_timeout(now, lead) is after


wait_operations = st.one_of(
    st.just(("timeout",)),
    st.tuples(st.just("begin_wait"), user_sets, timeouts),
    st.tuples(st.just("ready"), st.sampled_from(USERS)),
    st.tuples(st.just("release"), user_sets),
)


@settings(max_examples=200)
@given(
    start=playing_item(),
    first=st.sampled_from(USERS),
    timeout=timeouts,
    history=st.lists(st.tuples(st.floats(0.0, 5_000.0), wait_operations, leads), max_size=30),
)
def test_wait_deadline_is_fixed_when_the_wait_begins(
    start: Timeline, first: str, timeout: float, history: list[Any]
) -> None:
    """Members who start buffering during a wait join it; none of them can prolong it."""
    playing = start.play(T0, 0.0)
    waiting = playing.begin_wait(T0 + 1.0, [first], timeout)
    assert waiting.state is PlaybackState.WAITING
    assert waiting.waiting_for == frozenset({first})
    assert waiting.wait_deadline_ms == T0 + 1.0 + timeout
    for before, op, now, after in run(waiting, history, T0 + 1.0):
        if now >= T0 + 1.0 + timeout and op[0] == "timeout":
            assert after.state is PlaybackState.PLAYING
        if after.state is PlaybackState.WAITING:
            assert after.wait_deadline_ms == T0 + 1.0 + timeout
            assert after.position == waiting.position
            if op[0] == "begin_wait":
                assert after.waiting_for == before.waiting_for | op[1]
        else:
            assert after.state is PlaybackState.PLAYING
            assert after.position_at(now) == waiting.position
            released = {op[1]} if op[0] == "ready" else set(op[1]) if op[0] == "release" else set()
            assert op[0] == "timeout" or before.waiting_for <= released
            break  # this wait is over (a later one would have its own deadline)
