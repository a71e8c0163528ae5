"""Exact-value examples of the playback timeline, the lead time and the revision check."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from watchparty.errors import ErrorCode, ValidationProblem
from watchparty.parties.errors import RevisionConflict, TimelineError
from watchparty.parties.timeline import (
    PlaybackState,
    Segment,
    Timeline,
    check_revision,
    lead_ms,
)

PLAYING, PAUSED, WAITING, ENDED, IDLE = (
    PlaybackState.PLAYING,
    PlaybackState.PAUSED,
    PlaybackState.WAITING,
    PlaybackState.ENDED,
    PlaybackState.IDLE,
)


def test_a_session_step_by_step() -> None:
    tl = Timeline().change_item("a", 600.0, 1_000.0, autoplay=True, lead_ms=500.0)
    assert tl == Timeline(PLAYING, "a", 0.0, 1_500.0, 1.0, 1, 600.0)
    assert tl.position_at(1_200.0) == 0.0  # the start is scheduled: everyone holds until 1500
    assert tl.position_at(2_500.0) == 1.0

    tl = tl.set_rate(2.0, 2_500.0)
    assert tl == Timeline(PLAYING, "a", 1.0, 2_500.0, 2.0, 2, 600.0)
    assert tl.position_at(3_500.0) == 3.0

    tl = tl.pause(3_500.0)
    assert tl == Timeline(PAUSED, "a", 3.0, 3_500.0, 2.0, 3, 600.0)
    assert tl.position_at(99_000.0) == 3.0

    tl = tl.play(10_000.0, 300.0)
    assert tl == Timeline(
        PLAYING, "a", 3.0, 10_300.0, 2.0, 4, 600.0, previous=Segment(PAUSED, 3.0, 3_500.0, 2.0)
    )
    assert tl.position_at(10_300.0) == 3.0
    assert tl.position_at(11_300.0) == 5.0

    tl = tl.seek(42.5, 12_000.0, 400.0)
    moving = Segment(PLAYING, 3.0, 10_300.0, 2.0)  # runs on until the seek's anchor
    assert tl == Timeline(PLAYING, "a", 42.5, 12_400.0, 2.0, 5, 600.0, previous=moving)
    assert tl.position_at(12_000.0) == 6.4

    tl = tl.end(13_400.0)
    assert tl == Timeline(ENDED, "a", 44.5, 13_400.0, 2.0, 6, 600.0)

    tl = tl.play(20_000.0, 300.0)  # replaying an ended item restarts it
    ended = Segment(ENDED, 44.5, 13_400.0, 2.0)
    assert tl == Timeline(PLAYING, "a", 0.0, 20_300.0, 2.0, 7, 600.0, previous=ended)

    tl = tl.clear(21_000.0)
    assert tl == Timeline(IDLE, None, 0.0, 21_000.0, 2.0, 8, None)


def test_position_is_clamped_to_the_duration_and_the_end_is_predicted() -> None:
    tl = Timeline(PLAYING, "a", 8.0, 1_000.0, 0.5, 3, 10.0)
    assert tl.ends_at_ms() == 5_000.0
    assert tl.position_at(5_000.0) == 10.0
    assert tl.position_at(1e15) == 10.0
    assert Timeline(PAUSED, "a", 8.0, 1_000.0, 0.5, 3, 10.0).ends_at_ms() is None
    assert Timeline(PLAYING, "a", 8.0, 1_000.0, 0.5, 3, None).ends_at_ms() is None


def test_rate_change_before_a_scheduled_start_keeps_the_start() -> None:
    tl = Timeline(PLAYING, "a", 7.0, 5_000.0, 1.0, 1, None)
    changed = tl.set_rate(0.5, 4_000.0)
    assert changed == Timeline(PLAYING, "a", 7.0, 5_000.0, 0.5, 2, None)
    assert changed.position_at(7_000.0) == 8.0


def test_no_ops_return_the_same_timeline() -> None:
    paused = Timeline(PAUSED, "a", 3.0, 1_000.0, 1.0, 4, 60.0)
    assert paused.pause(2_000.0) is paused
    assert paused.set_rate(1.0, 2_000.0) is paused
    playing = paused.play(2_000.0, 300.0)
    assert playing.play(2_100.0, 300.0) is playing
    ended = playing.end(3_000.0)
    assert ended.end(4_000.0) is ended
    assert Timeline().clear(1.0) == Timeline()
    assert paused.begin_wait(2_000.0, ["u1"], 8_000.0) is paused  # a paused party waits for no one
    assert playing.begin_wait(2_000.0, [], 8_000.0) is playing
    assert playing.member_ready("u1", 2_000.0, 300.0) is playing
    assert playing.wait_timeout(2_000.0, 300.0) is playing


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda tl: tl.play(1.0, 300.0), "Nothing to play: choose a queue item first."),
        (lambda tl: tl.pause(1.0), "Nothing is playing."),
        (lambda tl: tl.seek(1.0, 1.0, 300.0), "Nothing to seek in: choose a queue item first."),
        (lambda tl: tl.end(1.0), "Nothing is playing."),
    ],
)
def test_controls_without_an_item_are_timeline_errors(
    action: Callable[[Timeline], object], message: str
) -> None:
    with pytest.raises(TimelineError) as caught:
        action(Timeline())
    assert caught.value.code is ErrorCode.VALIDATION
    assert caught.value.message == message
    assert caught.value.field is None


def test_pausing_an_ended_item_is_a_timeline_error() -> None:
    with pytest.raises(TimelineError, match="The item has ended"):
        Timeline(ENDED, "a", 10.0, 1.0, 1.0, 2, 10.0).pause(2.0)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (-0.001, "The position must be zero or more seconds."),
        (math.nan, "The position must be zero or more seconds."),
        (math.inf, "The position must be zero or more seconds."),
        (90.5, "The position is past the end of the item (90 seconds)."),
    ],
)
def test_seek_validation_names_the_argument(position: float, message: str) -> None:
    tl = Timeline(PLAYING, "a", 3.0, 1_000.0, 1.0, 4, 90.0)
    with pytest.raises(ValidationProblem) as caught:
        tl.seek(position, 2_000.0, 300.0)
    assert (caught.value.code, caught.value.field, caught.value.message) == (
        ErrorCode.VALIDATION,
        "positionSeconds",
        message,
    )
    assert tl.seek(90.0, 2_000.0, 300.0).position == 90.0  # the very end is allowed


@pytest.mark.parametrize("rate", [0.24, 2.01, 0.0, -1.0, math.nan, math.inf])
def test_rate_outside_the_range_is_refused(rate: float) -> None:
    with pytest.raises(ValidationProblem) as caught:
        Timeline(PAUSED, "a", 3.0, 1_000.0, 1.0, 4, 90.0).set_rate(rate, 2_000.0)
    assert (caught.value.field, caught.value.message) == (
        "rate",
        "The rate must be between 0.25 and 2.",
    )


def test_the_bounded_buffering_wait() -> None:
    tl = Timeline(PLAYING, "a", 10.0, 1_000.0, 1.0, 5, 600.0)
    waiting = tl.begin_wait(3_000.0, ["ann", "bob"], 8_000.0)
    assert waiting == Timeline(
        WAITING, "a", 12.0, 3_000.0, 1.0, 6, 600.0, frozenset({"ann", "bob"}), 11_000.0
    )
    joined = waiting.begin_wait(4_000.0, ["cy"], 8_000.0)
    assert joined.waiting_for == frozenset({"ann", "bob", "cy"})
    assert (joined.revision, joined.wait_deadline_ms) == (7, 11_000.0)  # the deadline holds
    assert joined.begin_wait(4_500.0, ["cy"], 8_000.0) is joined

    one_left = joined.member_ready("ann", 5_000.0, 300.0).release(["cy"], 5_000.0, 300.0)
    assert (one_left.state, one_left.waiting_for, one_left.revision) == (
        WAITING,
        frozenset({"bob"}),
        9,
    )
    resumed = one_left.member_ready("bob", 6_000.0, 400.0)
    held = Segment(PlaybackState.WAITING, 12.0, 3_000.0, 1.0)
    assert resumed == Timeline(PLAYING, "a", 12.0, 6_400.0, 1.0, 10, 600.0, previous=held)

    assert one_left.wait_timeout(10_999.0, 300.0) is one_left
    timed_out = one_left.wait_timeout(11_000.0, 300.0)
    assert timed_out == Timeline(PLAYING, "a", 12.0, 11_300.0, 1.0, 10, 600.0, previous=held)


def test_controls_during_a_wait() -> None:
    waiting = Timeline(PLAYING, "a", 10.0, 1_000.0, 1.0, 5, 600.0).begin_wait(
        3_000.0, ["ann"], 8_000.0
    )
    held = Segment(PlaybackState.WAITING, 12.0, 3_000.0, 1.0)
    assert waiting.play(4_000.0, 300.0) == Timeline(
        PLAYING, "a", 12.0, 4_300.0, 1.0, 7, 600.0, previous=held
    )
    assert waiting.pause(4_000.0) == Timeline(PAUSED, "a", 12.0, 4_000.0, 1.0, 7, 600.0)
    sought = waiting.seek(30.0, 4_000.0, 300.0)
    assert sought == Timeline(
        WAITING, "a", 30.0, 4_000.0, 1.0, 7, 600.0, frozenset({"ann"}), 11_000.0
    )


def test_change_item_paused_and_the_rate_carries_over() -> None:
    tl = Timeline(PLAYING, "a", 10.0, 1_000.0, 1.5, 5, 600.0)
    assert tl.change_item("b", None, 2_000.0, autoplay=False, lead_ms=300.0) == Timeline(
        PAUSED, "b", 0.0, 2_000.0, 1.5, 6, None
    )


def test_invariants_are_checked_on_construction() -> None:
    with pytest.raises(ValueError, match="past the duration"):
        Timeline(PAUSED, "a", 11.0, 0.0, 1.0, 1, 10.0)
    with pytest.raises(ValueError, match="exactly while WAITING"):
        Timeline(WAITING, "a", 1.0, 0.0, 1.0, 1, 10.0)
    with pytest.raises(ValueError, match="exactly when the state is not IDLE"):
        Timeline(PLAYING, None, 1.0, 0.0, 1.0, 1, 10.0)
    with pytest.raises(ValueError, match="rate"):
        Timeline(PAUSED, "a", 1.0, 0.0, 3.0, 1, 10.0)
    with pytest.raises(ValueError, match="lead_ms"):
        Timeline(PAUSED, "a", 1.0, 0.0, 1.0, 1, 10.0).play(1.0, -5.0)
    with pytest.raises(ValueError, match="timeout_ms"):
        Timeline(PLAYING, "a", 1.0, 0.0, 1.0, 1, 10.0).begin_wait(1.0, ["u"], 60_001.0)


@pytest.mark.parametrize(
    ("rtts", "expected"),
    [
        ([], 300.0),
        ([40.0, 120.0, 250.0], 300.0),
        ([80.0, 812.5], 812.5),
        ([90.0, 5_000.0], 2_000.0),
        ([math.nan, -3.0, 450.0], 450.0),
    ],
)
def test_lead_time(rtts: list[float], expected: float) -> None:
    assert lead_ms(rtts) == expected


def test_check_revision() -> None:
    tl = Timeline(PAUSED, "a", 1.0, 0.0, 1.0, 7, 10.0)
    check_revision(tl, None)
    check_revision(tl, 7)
    with pytest.raises(RevisionConflict) as caught:
        check_revision(tl, 6)
    conflict = caught.value
    assert conflict.code is ErrorCode.REVISION_CONFLICT
    assert conflict.field == "expectedRevision"
    assert conflict.extra == {"current": tl}
    assert conflict.current is tl
    assert conflict.message == "Playback changed meanwhile (now at revision 7, expected 6)."


def test_pause_seek_and_rate_while_playing_land_at_their_anchor() -> None:
    """Before its anchor a change has not happened: the replaced segment runs on (SYNC.md)."""
    playing = Timeline(PLAYING, "a", 10.0, 1_000.0, 1.0, 5, 600.0)
    moving = Segment(PLAYING, 10.0, 1_000.0, 1.0)

    paused = playing.pause(2_000.0, 500.0)
    assert paused == Timeline(PAUSED, "a", 11.5, 2_500.0, 1.0, 6, 600.0, previous=moving)
    assert paused.position_at(2_250.0) == 11.25  # still playing until the anchor
    assert paused.position_at(9_000.0) == 11.5

    sought = playing.seek(100.0, 2_000.0, 500.0)
    assert sought == Timeline(PLAYING, "a", 100.0, 2_500.0, 1.0, 6, 600.0, previous=moving)
    assert sought.position_at(2_400.0) == 11.4
    assert sought.position_at(3_500.0) == 101.0

    faster = playing.set_rate(2.0, 2_000.0, 500.0)
    assert faster == Timeline(PLAYING, "a", 11.5, 2_500.0, 2.0, 6, 600.0, previous=moving)
    assert faster.position_at(3_500.0) == 13.5

    # A change before the pending one's anchor replaces it; `previous` stays the moving segment.
    assert paused.play(2_200.0, 500.0) == Timeline(PLAYING, "a", 10.0, 1_000.0, 1.0, 7, 600.0)
    resought = sought.pause(2_200.0, 500.0)
    assert resought == Timeline(PAUSED, "a", 11.7, 2_700.0, 1.0, 7, 600.0, previous=moving)
    assert sought.seek(50.0, 2_200.0, 500.0).previous == moving
    # Paused: no lead, no previous.
    assert paused.seek(20.0, 3_000.0, 500.0) == Timeline(PAUSED, "a", 20.0, 3_000.0, 1.0, 7, 600.0)
