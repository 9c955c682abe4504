"""The periods of the dashboard's selector, as a registry: key -> label and the days it covers.

Every period ends with `today` (inclusive) and starts on a calendar boundary, so its numbers can be
worked out by hand: 本月 from the 1st (one bucket per day), 近3个月 / 近12个月 from the 1st of the month
two / eleven months back, 本年 from 1 January (one bucket per month).  `today` is always passed in;
nothing here reads the clock.

    >>> period("12m", datetime.date(2026, 12, 7)).start
    datetime.date(2026, 1, 1)
"""
import datetime
from dataclasses import dataclass
from typing import Callable

DEFAULT = "12m"


class UnknownPeriod(ValueError):
    """A period key the registry does not have (a clear message for the page and the JSON endpoint)."""

    def __init__(self, key):
        super().__init__(f"未知的统计期间“{key}”，可选：{'、'.join(p.label['zh'] for p in PERIODS.values())}")
        self.key = key


def months_back(day, months):
    """The 1st of the month `months` before the month of `day`."""
    index = day.year * 12 + (day.month - 1) - months
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class PeriodKind:
    key: str
    label: dict  # language -> label
    unit: str  # "day" or "month": the buckets of the trend
    starts: Callable  # today -> first day


@dataclass(frozen=True)
class Period:
    key: str
    label: dict
    unit: str
    start: datetime.date
    end: datetime.date  # today, inclusive

    @property
    def start_at(self):
        return datetime.datetime.combine(self.start, datetime.time())

    @property
    def end_at(self):
        """Midnight after `end`: timestamps before it fall on or before the last day."""
        return datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time())

    def buckets(self):
        """The trend's bucket keys in order: 'YYYY-MM-DD' per day or 'YYYY-MM' per month."""
        if self.unit == "day":
            days = (self.end - self.start).days + 1
            return [(self.start + datetime.timedelta(days=n)).isoformat() for n in range(days)]
        keys, month = [], self.start
        while month <= self.end:
            keys.append(month.strftime("%Y-%m"))
            month = months_back(month, -1)
        return keys


PERIODS = {}


def register(kind):
    PERIODS[kind.key] = kind
    return kind


register(PeriodKind("month", {"zh": "本月", "en": "This month"}, "day", lambda today: today.replace(day=1)))
register(PeriodKind("3m", {"zh": "近3个月", "en": "Last 3 months"}, "month", lambda today: months_back(today, 2)))
register(PeriodKind("12m", {"zh": "近12个月", "en": "Last 12 months"}, "month", lambda today: months_back(today, 11)))
register(PeriodKind("year", {"zh": "本年", "en": "This year"}, "month", lambda today: today.replace(month=1, day=1)))


def period(key, today):
    kind = PERIODS.get(key or DEFAULT)
    if kind is None:
        raise UnknownPeriod(key)
    return Period(kind.key, kind.label, kind.unit, kind.starts(today), today)
