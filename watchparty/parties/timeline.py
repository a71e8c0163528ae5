"""The playback timeline: one party's authoritative playhead as a pure state machine (SYNC.md).

No database, no clock, no GraphQL: every transition takes the server time `now_ms` (epoch
milliseconds) explicitly and returns a new frozen `Timeline`, so the rules can be checked with
property tests and applied atomically by whoever stores the timeline (a row update guarded by the
revision, see `check_revision`).

While PLAYING, `position_at(t) = position + (t - anchor_ms) * rate / 1000` for `t >= anchor_ms`,
clamped to the item's duration. In every other state the position is fixed.

**Before its anchor a change has not happened yet** (SYNC.md): a change anchored in the future
(a start, a resume, and a pause, seek or rate change made while the playhead moves) keeps the
segment it replaces in `previous`, and `position_at(t)` follows `previous` for `t < anchor_ms`.
Changes made while the playhead stands still (seek or rate while paused, WAITING) and changes that
must be immediate (`end`, `begin_wait`, `clear`) anchor at `now` with no `previous`. An item change
keeps no `previous` (the old segment is another item's): the new item holds at 0 until its anchor.

A change made before the pending change's anchor **replaces** the pending one: it is computed from
the segment that describes the playhead at that moment (`previous`), and `previous` stays that
segment. So a pause pressed during a resume's lead never moves the playhead, a play pressed during
a pause's lead lets playback run on untouched, and a seek followed by a pause within the lead
pauses where the old segment is at the pause's anchor (the seek is dropped). `previous` is only
meaningful while `now < anchor_ms`; readers ignore it afterwards.

Every change increments `revision` by exactly 1. What happens when a transition cannot change
anything is decided once, here:

- A *no-op* returns the very same object (same revision, nothing to store or publish; callers can
  test `new is old`). A control is a no-op when its target already holds: `play` while PLAYING,
  `pause` while PAUSED, `end` while ENDED, `clear` while IDLE, `set_rate` to the current rate.
  Transitions driven by member reports and timers (`begin_wait`, `member_ready`, `release`,
  `wait_timeout`) are no-ops whenever they do not apply, because reports arrive late and timer
  jobs may run twice.
- A control that makes no sense in the current state (`play`, `pause`, `seek` or `end` with no
  item; `pause` after the item ended) raises `TimelineError`. Bad arguments raise
  `ValidationProblem` with the API argument name as `field` (`positionSeconds`, `rate`).
  Arguments that come from the server itself (times, lead, durations, timeouts) are checked with
  plain `ValueError`: those are programming errors, not user errors.

WAITING means "playing, but held for buffering members": it is entered only from PLAYING and always
resumes to PLAYING, with a fresh anchor in the future. Its deadline is fixed when the wait begins
(members who start buffering later join the same wait), so the wait always ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from watchparty.errors import ValidationProblem
from watchparty.parties.errors import RevisionConflict, TimelineError

MIN_RATE = 0.25
MAX_RATE = 2.0
MIN_LEAD_MS = 300.0
MAX_LEAD_MS = 2000.0
MAX_WAIT_MS = 60_000.0
MAX_POSITION_SECONDS = 7 * 24 * 3600.0  # no item is longer (media durations stop at a week)


class PlaybackState(StrEnum):
    IDLE = "IDLE"
    WAITING = "WAITING"
    PAUSED = "PAUSED"
    PLAYING = "PLAYING"
    ENDED = "ENDED"


class PlayerState(StrEnum):
    """What a member's player reports (`parties.playback_reports`): BUFFERING may begin or join a
    wait (`Timeline.begin_wait`); any other state releases the member (`Timeline.member_ready`)."""

    BUFFERING = "BUFFERING"
    READY = "READY"
    PLAYING = "PLAYING"
    PAUSED = "PAUSED"


def lead_ms(rtts_ms: Iterable[float]) -> float:
    """How far in the future a start is anchored: long enough for the slowest member to hear it.

    Twice the highest one-way delay (RTT/2), at least `MIN_LEAD_MS`, at most `MAX_LEAD_MS` (a
    member slower than that starts late and catches up rather than holding everyone). Unknown or
    nonsensical samples (NaN, negative) are ignored.
    """
    valid = [r for r in rtts_ms if math.isfinite(r) and r >= 0]
    highest_one_way = max(valid, default=0.0) / 2
    return min(max(2 * highest_one_way, MIN_LEAD_MS), MAX_LEAD_MS)


def _check_time(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _check_lead(lead: float) -> None:
    if not (math.isfinite(lead) and lead >= 0):
        raise ValueError(f"lead_ms must be finite and >= 0, got {lead!r}")


def _check_duration(duration: float | None) -> None:
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be None or finite and > 0, got {duration!r}")


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the playhead: `position` at `anchor_ms`, moving at `rate` when PLAYING."""

    state: PlaybackState
    position: float
    anchor_ms: float
    rate: float

    def __post_init__(self) -> None:
        _check_time("anchor_ms", self.anchor_ms)
        if not (math.isfinite(self.position) and self.position >= 0):
            raise ValueError(f"position must be finite and >= 0, got {self.position!r}")
        if not (MIN_RATE <= self.rate <= MAX_RATE):
            raise ValueError(f"rate must be within {MIN_RATE}..{MAX_RATE}, got {self.rate!r}")

    def moving_at(self, now_ms: float) -> bool:
        return self.state is PlaybackState.PLAYING and now_ms >= self.anchor_ms

    def position_at(self, now_ms: float, duration: float | None) -> float:
        if self.state is not PlaybackState.PLAYING or now_ms <= self.anchor_ms:
            return self.position
        position = self.position + (now_ms - self.anchor_ms) * self.rate / 1000.0
        return position if duration is None else min(position, duration)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A snapshot of the playhead. Construction checks the invariants every transition keeps."""

    state: PlaybackState = PlaybackState.IDLE
    item_id: str | None = None
    position: float = 0.0  # seconds into the item at `anchor_ms`
    anchor_ms: float = 0.0  # server epoch ms at which `position` holds
    rate: float = 1.0
    revision: int = 0
    duration: float | None = None  # of the current item, when known
    waiting_for: frozenset[str] = field(default_factory=frozenset)  # user ids (WAITING only)
    wait_deadline_ms: float | None = None  # WAITING only: when the wait ends regardless
    # The segment this change replaces, describing the playhead while `now < anchor_ms`.
    previous: Segment | None = None

    def __post_init__(self) -> None:
        _check_time("anchor_ms", self.anchor_ms)
        _check_duration(self.duration)
        if not (math.isfinite(self.position) and self.position >= 0):
            raise ValueError(f"position must be finite and >= 0, got {self.position!r}")
        if self.duration is not None and self.position > self.duration:
            raise ValueError(f"position {self.position} is past the duration {self.duration}")
        if not (MIN_RATE <= self.rate <= MAX_RATE):
            raise ValueError(f"rate must be within {MIN_RATE}..{MAX_RATE}, got {self.rate!r}")
        if self.revision < 0:
            raise ValueError("revision must be >= 0")
        if (self.item_id is None) != (self.state is PlaybackState.IDLE):
            raise ValueError("an item is set exactly when the state is not IDLE")
        waiting = self.state is PlaybackState.WAITING
        if waiting != bool(self.waiting_for) or waiting != (self.wait_deadline_ms is not None):
            raise ValueError("waiting_for and wait_deadline_ms are set exactly while WAITING")
        if self.wait_deadline_ms is not None:
            _check_time("wait_deadline_ms", self.wait_deadline_ms)
        if self.previous is not None:
            if self.state not in (PlaybackState.PLAYING, PlaybackState.PAUSED):
                raise ValueError("previous is kept only by PLAYING or PAUSED")
            if self.previous.anchor_ms > self.anchor_ms:
                raise ValueError("previous is anchored before the change it precedes")

    # -- reading -------------------------------------------------------------------------------

    def position_at(self, now_ms: float) -> float:
        """Where the playhead is at server time `now_ms` (seconds, within 0..duration)."""
        if self.previous is not None and now_ms < self.anchor_ms:
            return self.previous.position_at(now_ms, self.duration)
        if self.state is not PlaybackState.PLAYING or now_ms <= self.anchor_ms:
            return self.position
        position = self.position + (now_ms - self.anchor_ms) * self.rate / 1000.0
        return position if self.duration is None else min(position, self.duration)

    def ends_at_ms(self) -> float | None:
        """Server time at which a PLAYING item reaches its end (to schedule advancing the queue)."""
        if self.state is not PlaybackState.PLAYING or self.duration is None:
            return None
        return self.anchor_ms + (self.duration - self.position) * 1000.0 / self.rate

    def segment(self) -> Segment:
        """This timeline's own segment (what holds from `anchor_ms` on)."""
        return Segment(self.state, self.position, self.anchor_ms, self.rate)

    def base(self, now_ms: float) -> Segment:
        """The segment describing the playhead at `now_ms`: `previous` before the anchor, a hold
        at `position` before a start that kept none (an item change), else this timeline's own."""
        if now_ms < self.anchor_ms:
            if self.previous is not None:
                return self.previous
            if self.state is PlaybackState.PLAYING:
                return Segment(PlaybackState.PAUSED, self.position, now_ms, self.rate)
        return self.segment()

    def pending(self, now_ms: float) -> bool:
        """Whether a change is still to take effect (its anchor is after `now_ms`)."""
        return self.previous is not None and now_ms < self.anchor_ms

    def _clamp(self, position: float) -> float:
        return position if self.duration is None else min(position, self.duration)

    # -- controls ------------------------------------------------------------------------------

    def play(self, now_ms: float, lead_ms: float) -> Timeline:
        """Start (or resume) at `now + lead`, holding the position until then.

        From ENDED the item restarts at 0. From WAITING this forces the resume without waiting
        for the stragglers.
        """
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if self.state is PlaybackState.IDLE:
            raise TimelineError("Nothing to play: choose a queue item first.")
        if self.state is PlaybackState.PLAYING:
            return self
        base = self.base(now_ms)
        if base.moving_at(now_ms) and base.rate == self.rate:
            # A pause still pending: cancel it, playback runs on exactly as it did.
            return self._next(
                PlaybackState.PLAYING, position=base.position, anchor_ms=base.anchor_ms
            )
        anchor = now_ms + lead_ms
        if self.state is PlaybackState.ENDED:
            position = 0.0
        else:
            position = self._clamp(base.position_at(anchor, self.duration))
        return self._next(
            PlaybackState.PLAYING,
            position=position,
            anchor_ms=anchor,
            previous=_kept(base, anchor, now_ms),
        )

    def pause(self, now_ms: float, lead_ms: float = 0.0) -> Timeline:
        """Hold where the playhead is at `now + lead` (it runs on until then), or at once when
        it is not moving (a start still pending, WAITING)."""
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if self.state is PlaybackState.IDLE:
            raise TimelineError("Nothing is playing.")
        if self.state is PlaybackState.ENDED:
            raise TimelineError("The item has ended: play it again or choose another.")
        if self.state is PlaybackState.PAUSED:
            return self  # paused, or a pause already pending
        base = self.base(now_ms)
        anchor = now_ms + lead_ms
        if base.moving_at(now_ms) and anchor > now_ms:
            position = self._clamp(base.position_at(anchor, self.duration))
            return self._next(
                PlaybackState.PAUSED, position=position, anchor_ms=anchor, previous=base
            )
        return self._next(PlaybackState.PAUSED, position=self.position_at(now_ms), anchor_ms=now_ms)

    def seek(self, position: float, now_ms: float, lead_ms: float) -> Timeline:
        """Jump to `position`. PLAYING keeps playing from a future anchor; PAUSED and WAITING stay
        as they are; ENDED becomes PAUSED at the new position."""
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if self.state is PlaybackState.IDLE:
            raise TimelineError("Nothing to seek in: choose a queue item first.")
        if not math.isfinite(position) or position < 0:
            raise ValidationProblem(
                "The position must be zero or more seconds.", field="positionSeconds"
            )
        if self.duration is not None and position > self.duration:
            raise ValidationProblem(
                f"The position is past the end of the item ({self.duration:g} seconds).",
                field="positionSeconds",
            )
        if position > MAX_POSITION_SECONDS:
            raise ValidationProblem(
                f"The position must be at most {MAX_POSITION_SECONDS:g} seconds.",
                field="positionSeconds",
            )
        base = self.base(now_ms)
        if self.state is PlaybackState.PLAYING or base.moving_at(now_ms):
            # Playing (or a pause pending): the old segment runs on until the new anchor.
            anchor = now_ms + lead_ms
            return self._next(
                self.state,
                position=position,
                anchor_ms=anchor,
                previous=_kept(base, anchor, now_ms),
            )
        if self.state is PlaybackState.WAITING:
            return replace(self, position=position, anchor_ms=now_ms, revision=self.revision + 1)
        return self._next(PlaybackState.PAUSED, position=position, anchor_ms=now_ms)

    def set_rate(self, rate: float, now_ms: float, lead_ms: float = 0.0) -> Timeline:
        """Change the rate without moving the playhead. While it moves, the old rate runs on
        until `now + lead` and the position there is folded in."""
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
            raise ValidationProblem(
                f"The rate must be between {MIN_RATE:g} and {MAX_RATE:g}.", field="rate"
            )
        if rate == self.rate:
            return self
        base = self.base(now_ms)
        if self.state is PlaybackState.PLAYING and base.moving_at(now_ms):
            anchor = now_ms + lead_ms
            return replace(
                self,
                rate=rate,
                position=self._clamp(base.position_at(anchor, self.duration)),
                anchor_ms=anchor,
                revision=self.revision + 1,
                previous=_kept(base, anchor, now_ms),
            )
        # Not moving (or a start or pause still scheduled): the held position, the anchor and
        # the segment before it stay valid.
        previous = self.previous if self.pending(now_ms) else None
        return replace(self, rate=rate, revision=self.revision + 1, previous=previous)

    def change_item(
        self,
        item_id: str,
        duration: float | None,
        now_ms: float,
        *,
        autoplay: bool,
        lead_ms: float,
    ) -> Timeline:
        """Load another item at 0: playing from `now + lead` with `autoplay`, else paused.

        Always a change, even for the current item (it restarts). The rate carries over.
        """
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        _check_duration(duration)
        if autoplay:
            state, anchor = PlaybackState.PLAYING, now_ms + lead_ms
        else:
            state, anchor = PlaybackState.PAUSED, now_ms
        return self._next(state, item_id=item_id, duration=duration, position=0.0, anchor_ms=anchor)

    def clear(self, now_ms: float) -> Timeline:
        """No item any more (the queue ran out or the current item was removed)."""
        _check_time("now_ms", now_ms)
        if self.state is PlaybackState.IDLE:
            return self
        return self._next(
            PlaybackState.IDLE, item_id=None, duration=None, position=0.0, anchor_ms=now_ms
        )

    def end(self, now_ms: float) -> Timeline:
        """The item is over (reached its end, or a controller stopped it): hold where it is."""
        _check_time("now_ms", now_ms)
        if self.state is PlaybackState.IDLE:
            raise TimelineError("Nothing is playing.")
        if self.state is PlaybackState.ENDED:
            return self
        return self._next(PlaybackState.ENDED, position=self.position_at(now_ms), anchor_ms=now_ms)

    # -- the bounded buffering wait ------------------------------------------------------------

    def begin_wait(self, now_ms: float, waiting_for: Iterable[str], timeout_ms: float) -> Timeline:
        """Members started buffering: hold the playhead until they are ready or `timeout_ms` passed.

        While already WAITING, new members join the current wait; its deadline does not move.
        """
        _check_time("now_ms", now_ms)
        if not (math.isfinite(timeout_ms) and 0 < timeout_ms <= MAX_WAIT_MS):
            raise ValueError(f"timeout_ms must be within (0, {MAX_WAIT_MS:g}], got {timeout_ms!r}")
        users = frozenset(waiting_for)
        if not users:
            return self
        if self.state is PlaybackState.WAITING:
            merged = self.waiting_for | users
            if merged == self.waiting_for:
                return self
            return replace(self, waiting_for=merged, revision=self.revision + 1)
        if self.state is not PlaybackState.PLAYING:
            return self  # a paused or stopped party waits for no one
        return self._next(
            PlaybackState.WAITING,
            position=self.position_at(now_ms),
            anchor_ms=now_ms,
            waiting_for=users,
            wait_deadline_ms=now_ms + timeout_ms,
        )

    def member_ready(self, user_id: str, now_ms: float, lead_ms: float) -> Timeline:
        """A member reports READY; the last one resumes playback."""
        return self.release([user_id], now_ms, lead_ms)

    def release(self, user_ids: Iterable[str], now_ms: float, lead_ms: float) -> Timeline:
        """Stop waiting for these members (ready, disconnected, or set to ignore the wait)."""
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if self.state is not PlaybackState.WAITING:
            return self
        remaining = self.waiting_for - frozenset(user_ids)
        if remaining == self.waiting_for:
            return self
        if not remaining:
            return self._resume(now_ms, lead_ms)
        return replace(self, waiting_for=remaining, revision=self.revision + 1)

    def wait_timeout(self, now_ms: float, lead_ms: float) -> Timeline:
        """Resume once the deadline has passed, whoever is still buffering (they are lagging)."""
        _check_time("now_ms", now_ms)
        _check_lead(lead_ms)
        if self.wait_deadline_ms is None or now_ms < self.wait_deadline_ms:
            return self
        return self._resume(now_ms, lead_ms)

    # -- helpers -------------------------------------------------------------------------------

    def _resume(self, now_ms: float, lead_ms: float) -> Timeline:
        anchor = now_ms + lead_ms
        return self._next(
            PlaybackState.PLAYING,
            anchor_ms=anchor,
            previous=_kept(self.base(now_ms), anchor, now_ms),
        )

    def _next(self, state: PlaybackState, **changes: Any) -> Timeline:
        """A change of state: +1 revision, and the wait is over and no segment is kept before the
        anchor unless the change sets them."""
        changes.setdefault("waiting_for", frozenset())
        changes.setdefault("wait_deadline_ms", None)
        changes.setdefault("previous", None)
        return replace(self, state=state, revision=self.revision + 1, **changes)


def _kept(base: Segment, anchor_ms: float, now_ms: float) -> Segment | None:
    """The segment a change keeps before its anchor: none when it takes effect at once."""
    return base if anchor_ms > now_ms else None


def check_revision(current: Timeline, expected: int | None) -> None:
    """Optimistic concurrency: a control sent against a stale revision is refused, never applied.

    `expected` None means the client did not ask for the check.
    """
    if expected is not None and expected != current.revision:
        raise RevisionConflict(current, expected)
