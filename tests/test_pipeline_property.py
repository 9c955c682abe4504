"""Property-based: whatever the sequence of orders (also back-dated), days passing, sweeps, retried sweeps,
sweeps that crash half-way and run again, two workers at once and per-customer checks after a change, every
customer's status and status history are exactly what a plain-Python model of the transitions gives
(first order → 成交, 30 days without an order → 流失, an order after churning → 成交 again), each firing
recorded once (one event, one status change, one audit row) and the history chaining from-status to
to-status.  Fixed dates; runs on SQLite and on PostgreSQL (DATABASE_URL)."""
import datetime
import itertools
import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import fn

import models
import pipeline
from models import AuditLog, Customer, Order, PipelineEvent, PipelineTransition, StatusChange
from pipeline import engine

START = datetime.date(2026, 1, 1)
CREATED = datetime.datetime(2025, 12, 1, 9, 0)
CUSTOMERS = 3
DAYS = 30
_numbers = itertools.count(1)

sweep = st.tuples(st.just("sweep"), st.sampled_from(["plain", "retry", "crash", "two_workers", "change"]))
step = st.one_of(
    sweep,
    st.tuples(st.just("order"), st.integers(0, CUSTOMERS - 1), st.integers(-50, 0), st.integers(0, 23)),
    st.tuples(st.just("advance"), st.integers(1, 40)),
    sweep,
)


@pytest.fixture
def world(app):
    pipeline.seed_transitions()
    PipelineTransition.update(params=json.dumps({"days": DAYS})).where(PipelineTransition.trigger == "no_order").execute()
    PipelineTransition.update(enabled=True).where(PipelineTransition.name == "流失客户回购").execute()
    return [Customer.create(name=f"客户{i}", created_at=CREATED) for i in range(CUSTOMERS)]


# The audit log is append-only (models/audit.py): each example counts the entries after this mark.
_audit_mark = [0]


def _reset(world):
    for model in (PipelineEvent, StatusChange, Order):
        model.delete().execute()
    _audit_mark[0] = AuditLog.select(fn.MAX(AuditLog.id)).scalar() or 0
    Customer.update(status="潜在客户").execute()
    for customer in world:
        StatusChange.create(customer=customer, from_status=None, to_status="潜在客户", reason="新建客户", at=CREATED)


class Model:
    """The reference: one customer's status and history from their orders, as docs/funnel.md defines them."""

    def __init__(self):
        self.status, self.entered, self.decided = "潜在客户", CREATED, None
        self.orders, self.history = [], []

    def _move(self, to, at):
        self.history.append((self.status, to, at))
        self.status, self.entered, self.decided = to, at, at

    def sweep(self, day):
        """Every transition in order, again as long as one fires (pipeline.engine.evaluate)."""
        while self._pass(day):
            pass

    def _pass(self, day):
        before = len(self.history)
        end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())
        for statuses, kind in ((("潜在客户", "意向客户"), "first"), (("成交客户",), "none"), (("流失客户",), "first")):
            if self.status not in statuses:
                continue
            seen = [o for o in self.orders if o < end]
            if kind == "first":
                since = [o for o in seen if self.decided is None or o >= self.decided]
                if since:
                    self._move("成交客户", max(min(since), self.entered))
            else:
                ref = max([self.entered] + seen)
                if ref < end - datetime.timedelta(days=DAYS):
                    self._move("流失客户", datetime.datetime.combine(ref.date() + datetime.timedelta(days=DAYS),
                                                                 datetime.time()))
        return len(self.history) > before


class Crash(Exception):
    pass


def _sweep(day, mode, world):
    if mode == "plain":
        pipeline.sweep(as_of=day, today=day)
    elif mode == "retry":
        pipeline.sweep(as_of=day, today=day)
        assert not any(r.any for r in pipeline.sweep(as_of=day, today=day)), "a retry changed something"
    elif mode == "change":
        pipeline.evaluate(day, customer_ids=[c.id for c in world], trigger="change")
    elif mode == "crash":
        real, calls = engine._move, []

        def dying(*args, **kwargs):
            calls.append(1)
            moved = real(*args, **kwargs)
            if len(calls) == 1:
                raise Crash()  # after the writes, before the commit
            return moved

        engine._move = dying
        try:
            try:
                pipeline.sweep(as_of=day, today=day)
            except Crash:
                pass  # nothing to move for anybody is fine too
        finally:
            engine._move = real
        pipeline.sweep(as_of=day, today=day)  # the next run finishes the job
    else:  # two workers at once
        barrier, errors = threading.Barrier(2), []

        def worker():
            try:
                barrier.wait()
                pipeline.sweep(as_of=day, today=day)
            except Exception as error:  # noqa: BLE001
                errors.append(error)
            finally:
                models.db.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_statuses_and_history_follow_the_model_and_nothing_fires_twice(world, steps):
    _reset(world)
    day = START
    reference = [Model() for _ in world]
    for kind, *args in steps:
        if kind == "order":
            index, offset, hour = args
            when = datetime.datetime.combine(day + datetime.timedelta(days=offset), datetime.time(hour))
            Order.create(customer=world[index], order_no=f"Q{next(_numbers):08d}", ordered_at=when, amount=10)
            reference[index].orders.append(when)
        elif kind == "advance":
            day += datetime.timedelta(days=args[0])
        else:
            _sweep(day, args[0], world)
            for model in reference:
                model.sweep(day)
            _check(world, reference)


def _check(world, reference):
    fired = 0
    for customer, model in zip(world, reference):
        assert Customer.get_by_id(customer.id).status == model.status
        changes = [(c.from_status, c.to_status, c.at) for c in StatusChange.select()
                   .where((StatusChange.customer == customer.id) & StatusChange.from_status.is_null(False))
                   .order_by(StatusChange.at, StatusChange.id)]
        assert changes == model.history
        fired += len(model.history)
    assert PipelineEvent.select().count() == fired
    assert AuditLog.select().where((AuditLog.action == "auto-status") & (AuditLog.id > _audit_mark[0])).count() == fired
