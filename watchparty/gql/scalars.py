"""Custom scalars whose errors read well: Strawberry's `DateTime` and `Date` append the parser's
own message (`invalid literal for int() with base 10: b'garb'`, `Invalid isoformat string`) to
a bad value's error."""

from __future__ import annotations

import datetime as dt

import dateutil.parser
import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

DATETIME_HINT = "Expected an ISO 8601 date and time, such as 2026-01-31T20:00:00Z."


def parse_datetime(value: object) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed: dt.datetime = dateutil.parser.isoparse(value)
            # One meaning for every DateTime input: without an offset it is UTC (the services
            # compare with aware times), and it must exist in UTC: 9999-12-31T23:59:59-14:00
            # does not (OverflowError), and PostgreSQL could not store it.
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            pass
    raise StrawberryInputCoercionError(f"Value cannot represent a DateTime. {DATETIME_HINT}")


DateTime: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=dt.datetime.isoformat,
    parse_value=parse_datetime,
)

DATE_HINT = "Expected an ISO 8601 date, such as 2026-01-31."


def parse_date(value: object) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise StrawberryInputCoercionError(f"Value cannot represent a Date. {DATE_HINT}")


Date: ScalarDefinition = strawberry.scalar(
    name="Date",
    description="Date (isoformat)",
    serialize=dt.date.isoformat,
    parse_value=parse_date,
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {dt.datetime: DateTime, dt.date: Date}
