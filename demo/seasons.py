"""The demo's calendar: four years of days, how busy each one is, and clock times.

Time is counted in days (a float) from the first day of the calendar.  Orders follow
an inhomogeneous Poisson process: a customer's waiting time is drawn in "busy days"
and mapped back to calendar days through the cumulative busyness, so 618, 双11 and the
year-end budget rush get more orders and the Spring Festival fewer.
"""
import bisect
import datetime
import itertools

YEARS_OF_CONTACTS = 4  # first contacts reach this far back
YEARS_OF_ORDERS = 3  # orders reach this far back

SPRING_FESTIVAL = {
    2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10),
    2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23),
    2032: (2, 11), 2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}
WEEKDAY = (1.08, 1.08, 1.08, 1.08, 1.08, 0.85, 0.75)

# Relative weight of each hour for orders (online shopping peaks in the evening) and office work.
ORDER_HOURS = (1, .5, .3, .2, .2, .3, .8, 1.5, 3, 5, 6, 6, 5, 5, 6, 6, 5, 5, 5, 6, 7, 7, 5, 3)
WORK_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, .5, 5, 6, 6, 2, 3, 6, 6, 6, 5, 2, .5, .3, 0, 0, 0)


def years_before(day, years):
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def promotion(day):
    """Whether shoppers expect discounts that day: 618, 双11 and 双12 seasons."""
    m, d = day.month, day.day
    return (m == 6 and d <= 18) or (m == 10 and d >= 24) or (m == 11 and d <= 11) or (m == 12 and d == 12)


def busyness(day):
    weight = WEEKDAY[day.weekday()]
    m, d = day.month, day.day
    if m == 6 and d <= 20:
        weight *= 3.5 if d == 18 else 2.2 if d == 1 else 1.2 if d > 18 else 1.5
    elif (m == 10 and d >= 24) or (m == 11 and d <= 13):
        weight *= 1.4 if m == 10 else 6.0 if d == 11 else 1.3 if d > 11 else 1.8
    elif m == 12:
        weight *= 2.0 if d == 12 else 1.6 if d >= 15 else 1.15
    elif m in (7, 8):
        weight *= 0.9
    festival = SPRING_FESTIVAL.get(day.year)
    if festival:
        offset = (day - datetime.date(day.year, *festival)).days
        if -10 <= offset <= 6:
            weight *= 0.35
        elif 6 < offset <= 15:
            weight *= 0.8
    return weight


def _hour_table(weights):
    return list(itertools.accumulate(weights))


CLOCK = [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]  # formatting is the hot spot


class Timeline:
    def __init__(self, now):
        self.now = now
        self.today = now.date()
        self.first = years_before(self.today, YEARS_OF_CONTACTS)
        self.days = (self.today - self.first).days + 1  # the last day is today
        self.order_start = (years_before(self.today, YEARS_OF_ORDERS) - self.first).days
        dates = [self.first + datetime.timedelta(days=d) for d in range(self.days)]
        self.date = [day.isoformat() for day in dates]
        self.compact = [day.strftime("%Y%m%d") for day in dates]
        self.promo = [promotion(day) for day in dates]
        self.december = [day.month == 12 and day.day >= 15 for day in dates]
        weights = [busyness(day) for day in dates]
        mean = sum(weights) / len(weights)
        self.weight = [w / mean for w in weights]
        self.cumulative = [0.0] + list(itertools.accumulate(self.weight))
        midnight = datetime.datetime.combine(self.today, datetime.time())
        self.now_t = self.days - 1 + (now - midnight).total_seconds() / 86400
        self._order_hours = _hour_table(ORDER_HOURS)
        self._work_hours = _hour_table(WORK_HOURS)

    def iso(self, day):
        """'YYYY-MM-DD' of a day index, also past today (planned follow-ups)."""
        if day < self.days:
            return self.date[day]
        return (self.first + datetime.timedelta(days=day)).isoformat()

    def busy_at(self, t):
        """Cumulative busyness at time t (days)."""
        day = int(t)
        return self.cumulative[day] + self.weight[day] * (t - day)

    def after_busy_days(self, t, busy_days):
        """The time at which `busy_days` more busyness has accumulated after t (may be past the end)."""
        target = self.busy_at(t) + busy_days
        if target >= self.cumulative[-1]:
            return float(self.days)
        day = bisect.bisect_right(self.cumulative, target) - 1
        return day + (target - self.cumulative[day]) / self.weight[day]

    def _stamp(self, rng, t, hours):
        day = int(t)
        hour = bisect.bisect_right(hours, rng.random() * hours[-1])
        seconds = hour * 3600 + int(rng.random() * 3600)
        if day >= self.days - 1:  # today: nothing after the current time
            day = self.days - 1
            seconds = min(seconds, int((self.now_t - day) * 86400))
        return day, self.date[day] + CLOCK[seconds]

    def order_stamp(self, rng, t, not_before=""):
        """(day index, 'YYYY-MM-DD HH:MM:SS') of an order placed on the day of t, not before
        `not_before` (the previous order's stamp: two orders on one day keep their order)."""
        day, stamp = self._stamp(rng, t, self._order_hours)
        return day, max(stamp, not_before)

    def work_stamp(self, rng, t):
        """(day index, 'YYYY-MM-DD HH:MM:SS') during office hours on the day of t."""
        return self._stamp(rng, t, self._work_hours)
