"""The bounds of every analytics read and export: time ranges, bucket sizes and list sizes.

A dashboard read names a range and a bucket size; both are checked here, before any query,
so a stranger's input is a `ValidationProblem` (with the argument's name as `field`), never
a long scan. Days are UTC dates, inclusive at both ends; party curves take instants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from watchparty.analytics.models import POSITION_BUCKET_SECONDS
from watchparty.errors import ValidationProblem

MAX_RANGE_DAYS = 366  # a day range (both ends included) or a party window
DEFAULT_RANGE_DAYS = 30  # without `from`: the 30 days ending `to` (default today)
BUCKET_MINUTES = (1, 5, 15, 30, 60, 180, 360, 720, 1440)  # a party curve's bucket sizes
MAX_CURVE_POINTS = 1440  # buckets of a party curve
POSITION_BUCKETS = (10, 30, 60, 120, 300, 600)  # seconds of video per bucket (retention, hot spots)
MAX_POSITION_POINTS = 1000  # buckets of a retention curve (and of the hot spots listed)
MAX_TOP = 20  # most re-watched / most skipped ranges
DEFAULT_TOP = 5
MAX_EXPORT_PARTY_DAYS = 31  # a party export lists minutes: at most 44,640 rows


@dataclass(frozen=True, slots=True)
class DayRange:
    first: date
    last: date  # included

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True, slots=True)
class Window:
    """A party curve's window [start, end) cut into `bucket_minutes` buckets from `start`."""

    start: datetime
    end: datetime
    bucket_minutes: int

    @property
    def points(self) -> int:
        return math.ceil((self.end - self.start).total_seconds() / (self.bucket_minutes * 60))


def today() -> date:
    return datetime.now(UTC).date()


def day_range(
    first: date | None,
    last: date | None,
    *,
    max_days: int = MAX_RANGE_DAYS,
    default_days: int = DEFAULT_RANGE_DAYS,
) -> DayRange:
    """`from`..`to` (both included); `to` defaults to today, `from` to `default_days` before."""
    end = last if last is not None else today()
    start = first if first is not None else end - timedelta(days=default_days - 1)
    if start > end:
        raise ValidationProblem("`from` must not be after `to`.", field="from")
    if (end - start).days + 1 > max_days:
        raise ValidationProblem(f"A range covers at most {max_days} days.", field="from")
    return DayRange(start, end)


def _floor_minute(value: datetime) -> datetime:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(second=0, microsecond=0)


def _ceil_minute(value: datetime) -> datetime:
    floored = _floor_minute(value)
    return floored if floored == value.astimezone(UTC) else floored + timedelta(minutes=1)


def check_bucket_minutes(bucket_minutes: int | None) -> None:
    if bucket_minutes is not None and bucket_minutes not in BUCKET_MINUTES:
        sizes = ", ".join(str(size) for size in BUCKET_MINUTES)
        raise ValidationProblem(f"`bucketMinutes` is one of {sizes}.", field="bucketMinutes")


def check_window(start: datetime | None, end: datetime | None) -> None:
    """The explicit bounds of a party window, checked before any query."""
    if start is not None and end is not None:
        if end <= start:
            raise ValidationProblem("`to` must be after `from`.", field="to")
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            raise ValidationProblem(f"A range covers at most {MAX_RANGE_DAYS} days.", field="from")


def party_window(
    start: datetime | None,
    end: datetime | None,
    bucket_minutes: int | None,
    *,
    first_event: datetime | None,
    last_event: datetime | None,
) -> Window | None:
    """The curve's window: the given bounds, else the party's first and last event (None when
    there is neither: nothing aggregated yet). Without `bucketMinutes` the smallest size that
    fits `MAX_CURVE_POINTS`; a given size that does not fit is a ValidationProblem."""
    check_bucket_minutes(bucket_minutes)
    check_window(start, end)
    if start is None and end is None and (first_event is None or last_event is None):
        return None
    if end is not None:
        high = _ceil_minute(end)
    elif last_event is not None:
        high = _floor_minute(last_event) + timedelta(minutes=1)  # its minute included
    else:
        high = _ceil_minute(datetime.now(UTC))
    if start is not None:
        low = _floor_minute(start)
    elif first_event is not None:
        low = _floor_minute(first_event)
    else:
        low = high - timedelta(days=1)
    if high <= low:
        high = low + timedelta(minutes=1)
    if high - low > timedelta(days=MAX_RANGE_DAYS):
        if start is None:
            low = high - timedelta(days=MAX_RANGE_DAYS)
        else:
            high = low + timedelta(days=MAX_RANGE_DAYS)
    if bucket_minutes is not None:
        window = Window(low, high, bucket_minutes)
        if window.points > MAX_CURVE_POINTS:
            raise ValidationProblem(
                f"That range in {bucket_minutes}-minute buckets is {window.points} points; "
                f"at most {MAX_CURVE_POINTS}: choose larger buckets or a shorter range.",
                field="bucketMinutes",
            )
        return window
    for size in BUCKET_MINUTES:
        window = Window(low, high, size)
        if window.points <= MAX_CURVE_POINTS:
            return window
    return Window(low, high, BUCKET_MINUTES[-1])  # unreachable: 366 days fit in days


def position_bucket(
    bucket_seconds: int | None, duration_seconds: float | None, *, field: str
) -> int:
    """Seconds of video per bucket: the given size (one of `POSITION_BUCKETS`, fitting
    `MAX_POSITION_POINTS` over a known duration), else the smallest that fits."""
    sizes = ", ".join(str(size) for size in POSITION_BUCKETS)
    if bucket_seconds is not None:
        if bucket_seconds not in POSITION_BUCKETS:
            raise ValidationProblem(f"`{field}` is one of {sizes}.", field=field)
        if duration_seconds and duration_seconds / bucket_seconds > MAX_POSITION_POINTS:
            raise ValidationProblem(
                f"This video in {bucket_seconds}-second buckets is more than "
                f"{MAX_POSITION_POINTS} points: choose larger buckets.",
                field=field,
            )
        return bucket_seconds
    for size in POSITION_BUCKETS:
        if not duration_seconds or duration_seconds / size <= MAX_POSITION_POINTS:
            return size
    return POSITION_BUCKETS[-1]


def top_count(top: int | None) -> int:
    if top is None:
        return DEFAULT_TOP
    if not 1 <= top <= MAX_TOP:
        raise ValidationProblem(f"`top` is between 1 and {MAX_TOP}.", field="top")
    return top


assert all(size % POSITION_BUCKET_SECONDS == 0 for size in POSITION_BUCKETS)
