"""Report periods: which UTC day or ISO week a report covers, parsed at the edge.

A daily report covers one UTC calendar day. A weekly report covers one ISO week, Monday
00:00 to the next Monday 00:00 UTC, and is named by its last day (a Sunday): requiring a
Sunday keeps one folder per week (`weekly/2026-W48/`), whatever day it is built on.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shopper_pipelines.errors import InvalidInputError

SUNDAY = 6  # date.weekday()


@dataclass(frozen=True)
class Window:
    """A half-open UTC time range [start, end) and the label a report folder takes."""

    start: datetime
    end: datetime
    label: str

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def today_utc(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def parse_date(text: str, flag: str) -> date:
    """'2026-12-03' -> a date; anything else raises InvalidInputError naming the flag."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{flag} takes a date as YYYY-MM-DD, got {text!r}") from None


def default_day(now: datetime | None = None) -> date:
    """Yesterday, in UTC: the last whole day."""
    return today_utc(now) - timedelta(days=1)


def default_week_ending(now: datetime | None = None) -> date:
    """The last Sunday strictly before today (UTC): the last whole ISO week."""
    today = today_utc(now)
    return today - timedelta(days=(today.weekday() - SUNDAY) % 7 or 7)


def day_window(day: date, now: datetime | None = None, flag: str = "--date") -> Window:
    """The UTC day `day`; a day that has not started yet is refused."""
    if day > today_utc(now):
        raise InvalidInputError(f"{flag} must not be in the future, got {day.isoformat()}")
    return Window(midnight(day), midnight(day + timedelta(days=1)), day.isoformat())


def week_window(
    week_ending: date, now: datetime | None = None, flag: str = "--week-ending"
) -> Window:
    """The ISO week that ends on Sunday `week_ending`."""
    if week_ending.weekday() != SUNDAY:
        raise InvalidInputError(
            f"{flag} must be a Sunday (the last day of an ISO week), got "
            f"{week_ending.isoformat()} (a {week_ending:%A})"
        )
    monday = week_ending - timedelta(days=6)
    if monday > today_utc(now):
        raise InvalidInputError(f"{flag} must not be a week in the future, got {week_ending}")
    year, week, _ = week_ending.isocalendar()
    return Window(
        midnight(monday), midnight(week_ending + timedelta(days=1)), f"{year}-W{week:02d}"
    )
