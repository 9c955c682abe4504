"""The day tests and benchmarks generate demo data for, so their outcomes do not move with
the calendar.

    demo.generate(customers=300, seed=5, now=REFERENCE_NOW)

`demo.generate` dates every history back from `now` (by default the start of today), so
without a fixed `now` the same seed gives different customers, orders and follow-ups every
day, and a test or a benchmark baseline that held yesterday may not hold today. Anything that
compares with generated dates compares with `REFERENCE_DAY` / `REFERENCE_NOW` too, never with
`datetime.date.today()`. `run.py demo` keeps today: the demo is meant to look current.

Imports nothing from the application, so tests, benchmarks and notebooks may all use it.
"""
import datetime

# A Monday in December: the history (three years back from its midnight) ends with a whole
# week (Monday to Sunday) and takes in three 双11, and the day is clear of a month's or a
# quarter's edge.
REFERENCE_DAY = datetime.date(2026, 12, 7)
REFERENCE_NOW = datetime.datetime.combine(REFERENCE_DAY, datetime.time())  # its midnight, as generate() uses
