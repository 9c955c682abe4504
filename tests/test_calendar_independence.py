"""Tests must not depend on the wall clock: the demo generator, given a fixed `now`, writes the
same rows whatever day the process's clock reads (time-machine moves `date.today()`,
`datetime.now()` and `time.time()`), so tests and benchmarks that generate demo data for
demo.fixed.REFERENCE_NOW see the same data on any day.
"""
import datetime
import hashlib

import time_machine

import demo
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from models import Customer, CustomerTag, Feedback, FollowUp, Order, StatusChange, Tag

from tests.conftest import PASSWORD

# Two clocks far apart, either side of the reference day, in different seasons and years.
CLOCKS = [datetime.datetime(2025, 2, 3, 9, 30), datetime.datetime(2031, 8, 9, 22, 15)]
# Every table the generator fills (users are only re-created: their created_at is the time of
# writing and their password hash is salted, so they are left out).
TABLES = [Customer, StatusChange, Order, FollowUp, Feedback, CustomerTag, Tag]


def digest():
    """One digest of the generated tables, read through the models (so sealed columns count
    by their plain values, not by their randomly nonced ciphertext), in id order."""
    h = hashlib.sha256()
    for model in TABLES:
        h.update(model._meta.table_name.encode())
        for row in model.select().order_by(model._meta.primary_key).tuples():
            h.update(repr(row).encode())
    return h.hexdigest()


def generate_on(clock, now):
    with time_machine.travel(clock, tick=False):
        assert datetime.date.today() == clock.date()  # the clock really moved
        demo.generate(customers=60, seed=9, password=PASSWORD, now=now)
        return digest()


def test_demo_data_for_a_fixed_day_does_not_depend_on_the_clock(app):
    digests = [generate_on(clock, REFERENCE_NOW) for clock in CLOCKS]
    assert digests[0] == digests[1]
    assert Customer.select().count() == 60 and Order.select().count() > 0
    assert max(o.ordered_at for o in Order.select()).date() <= REFERENCE_DAY


def test_the_check_would_notice_data_dated_from_the_clock(app):
    # Without a fixed `now` the generator dates from today: the digests must differ, or
    # the test above could not tell a clock-bound generator from a fixed one.
    assert generate_on(CLOCKS[0], None) != generate_on(CLOCKS[1], None)
