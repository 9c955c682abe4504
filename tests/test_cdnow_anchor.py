"""The analysis reproduces the published CDNOW estimates when the sample goes through the product.

The sample is imported as customers and orders, summarised from the database as of the end of
the calibration period (1997-09-30) in weeks, and fitted.  Published values: BG/NBD from Fader,
Hardie & Lee (2005), Gamma-Gamma from Fader & Hardie's note on it (the lifetimes docs agree).

Tolerances: the papers print 3 decimals (BG/NBD), 2 (Gamma-Gamma) and 1 (LL); the allowances
below are a little over half a unit in the last printed place plus optimiser noise
(r, a ±0.002; α, b ±0.005; LL ±0.5; p, q, γ ±0.02).
"""
import datetime
import re

import pytest
from peewee import IntegrityError

import models
from analytics import clv
from analytics.queries import customer_summary
from intake import IMPORTERS, load_cdnow
from intake.cdnow import CdnowFormatError, default_path

AS_OF = datetime.date(1997, 9, 30)


def test_cdnow_sample_reproduces_published_fits(app):
    with app.app_context():
        counts = IMPORTERS["cdnow"]()
        assert counts == {"customers": 2357, "orders": 6919}
        assert models.Customer.select().count() == 2357
        assert models.Order.select().count() == 6919

        summary = customer_summary(as_of=AS_OF, unit_days=7)
    assert len(summary) == 2357  # every customer's first purchase is in 1997 Q1

    bgnbd = clv.fit_bgnbd(summary)
    assert bgnbd["r"] == pytest.approx(0.243, abs=0.002)
    assert bgnbd["alpha"] == pytest.approx(4.414, abs=0.005)
    assert bgnbd["a"] == pytest.approx(0.793, abs=0.002)
    assert bgnbd["b"] == pytest.approx(2.426, abs=0.005)
    assert bgnbd["log_likelihood"] == pytest.approx(-9582.4, abs=0.5)

    gamma_gamma = clv.fit_gamma_gamma(summary)
    assert gamma_gamma["p"] == pytest.approx(6.25, abs=0.02)
    assert gamma_gamma["q"] == pytest.approx(3.74, abs=0.02)
    assert gamma_gamma["v"] == pytest.approx(15.44, abs=0.02)


def test_imported_customers_and_orders_look_like_the_file(app):
    with app.app_context():
        load_cdnow()
        customer = models.Customer.get(models.Customer.name == "CDNOW 客户 0004")
        assert customer.code == "CD-NW-1997-0004"
        assert (customer.customer_type, customer.status) == ("个人", "成交客户")
        assert customer.first_contact == datetime.date(1997, 1, 1)
        orders = list(customer.orders.order_by(models.Order.ordered_at))
        assert [(o.order_no, o.ordered_at, float(o.amount), o.quantity, o.channel) for o in orders[:2]] == [
            ("CDNOW-4-1", datetime.datetime(1997, 1, 1), 29.33, 2, "CDNOW"),
            ("CDNOW-4-2", datetime.datetime(1997, 1, 18), 29.73, 2, "CDNOW"),
        ]
        codes = [c for (c,) in models.Customer.select(models.Customer.code).tuples()]
        assert all(re.fullmatch(r"[A-Z]+-[A-Z]+-\d{4}-\d+", c) for c in codes)

        with pytest.raises(ValueError, match="已导入过"):
            load_cdnow()
        assert models.Order.select().count() == 6919


def test_a_failure_while_writing_leaves_nothing_behind(app, make_customer, make_order):
    with app.app_context():
        # An order number the import will want for the file's third line: the customers are
        # already inserted when the orders clash, and must go with the failed transaction.
        make_order(make_customer(), order_no="CDNOW-4-3")
        with pytest.raises(IntegrityError):
            load_cdnow()
        assert models.Customer.select().count() == 1
        assert models.Order.select().count() == 1


@pytest.mark.parametrize(
    "replacement, reason",
    [
        (" 00004 0001 19971340  2   29.33", "日期无法识别"),
        (" 00004 0001 19970101  2   abc", "金额无法识别"),
        (" 00004 0001 19970101  2   -5.00", "金额为负"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(app, tmp_path, replacement, reason):
    with open(default_path(), encoding="ascii") as handle:
        lines = handle.read().splitlines()
    lines[4999] = replacement  # line 5000 of the file
    broken = tmp_path / "cdnow_broken.txt"
    broken.write_text("\n".join(lines) + "\n", encoding="ascii")

    with app.app_context():
        with pytest.raises(CdnowFormatError) as raised:
            load_cdnow(broken)
        assert raised.value.errors == [(5000, raised.value.errors[0][1])]
        assert reason in raised.value.errors[0][1]
        assert "第 5000 行" in str(raised.value)
        assert models.Customer.select().count() == 0
        assert models.Order.select().count() == 0
