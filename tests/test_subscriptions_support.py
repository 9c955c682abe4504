"""Helpers for the subscription tests (no tests of its own).  The reports, addresses, mail settings
and workers are shared with bench/deliveries.py and live in harness.reports; what only the tests
need is here."""
from harness.reports import (EMAILS, SENDER, SLOW, TEST_NOTEBOOKS, delivery_header, give_emails,  # noqa: F401
                             mail_env, parsed, register_reports, workers)
from harness.workers import ROOT, kill, wait_for  # noqa: F401 (for the worker tests)
from models import Subscription


def backdate(subscription, planned_until):
    """As if the subscription had been planned up to `planned_until` (naive UTC)."""
    Subscription.update(planned_until=planned_until).where(Subscription.id == subscription.id).execute()
    return Subscription.get_by_id(subscription.id)
