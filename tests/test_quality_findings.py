"""Each data-quality finding on planted records, beside look-alikes that must not be found.

Dates are fixed: the scan runs for TODAY, whatever day the tests run on.
"""
import datetime

import pytest

import quality
from models import Choice, Customer, FollowUp, Order
from quality import sql

TODAY = datetime.date(2025, 6, 15)
LONG_AGO = datetime.datetime(2023, 1, 10, 9, 0)


def found(key, **kwargs):
    item = quality.get(key)
    return {row[0] for row in item.query(quality.context(TODAY, kwargs.get("stale_days"))).tuples()}


def follow_up(customer, at, next_date=None):
    return FollowUp.create(customer=customer, at=at, method="电话", content="跟进", next_date=next_date)


def test_registry_entries_are_complete():
    assert len(quality.REGISTRY) >= 14
    groups = dict(quality.GROUPS)
    for item in quality.REGISTRY.values():
        assert item.label and item.description and item.columns and item.group in groups, item.key
        assert set(item.fixable) <= set(item.model._meta.fields), item.key
        assert not item.blocks_fix or item.message, item.key


def test_missing_contact_and_email(make_customer):
    none = make_customer(mobile=None, phone="  ", email=None)
    phone_only = make_customer(mobile=None, phone="010-62345678", email="a@example.com")
    mobile_only = make_customer(phone=None, email="  ")
    assert none.id in found("missing-contact")
    assert not {phone_only.id, mobile_only.id} & found("missing-contact")
    assert {none.id, mobile_only.id} <= found("missing-email")
    assert phone_only.id not in found("missing-email")


@pytest.mark.parametrize("value,bad", [
    ("13812345678", False), ("19912345678", False), ("13８12345678", True), ("1381234567", True),
    ("138123456789", True), ("12812345678", True), ("+8613812345678", True), ("138-1234-5678", True),
])
def test_invalid_mobile(make_customer, value, bad):
    customer = make_customer(mobile=value)
    assert (customer.id in found("invalid-mobile")) is bad


@pytest.mark.parametrize("value,bad", [
    ("li@example.com", False), ("first.last@mail.example.cn", False), ("a@b.co", False),
    ("li@example", True), ("li example@x.com", True), ("@x.com", True), ("li@.com", True), ("li@x.c", True),
    ("li@x.c0m", True), ("li@@x.com", True), ("li@x.com\u3000", True),
])
def test_invalid_email(make_customer, value, bad):
    customer = make_customer(email=value)
    assert (customer.id in found("invalid-email")) is bad


@pytest.mark.parametrize("value,bad", [
    ("010-62345678", False), ("(010) 6234 5678", False), ("+86 10 62345678", False),
    ("010-6234567a", True), ("ext 1234567", True), ("12345", True), ("０１０-62345678", True),
])
def test_invalid_phone(make_customer, value, bad):
    customer = make_customer(phone=value)
    assert (customer.id in found("invalid-phone")) is bad


def test_values_outside_the_managed_lists(make_customer):
    Choice.get_or_create(kind="source", name="展会")
    listed = make_customer(industry="互联网", region="华北", source="展会")
    empty = make_customer(industry=None, region="", source=None)
    odd = make_customer(industry="IT", region="华北区", source="展会2")
    wrong_kind = make_customer(industry="华北")  # a region's name is not an industry
    assert found("unlisted-industry") == {odd.id, wrong_kind.id}
    assert found("unlisted-region") == {odd.id}
    assert found("unlisted-source") == {odd.id}
    assert not {listed.id, empty.id} & (found("unlisted-industry") | found("unlisted-region") | found("unlisted-source"))


def test_future_or_impossible_dates(make_customer, make_order):
    customer = make_customer(first_contact=TODAY)
    future = make_customer(first_contact=TODAY + datetime.timedelta(days=1))
    ancient = make_customer(first_contact=datetime.date(1949, 12, 31))
    earliest = make_customer(first_contact=datetime.date(1950, 1, 1))
    none = make_customer(first_contact=None)
    assert found("first-contact-date") == {future.id, ancient.id}
    assert not {customer.id, earliest.id, none.id} & found("first-contact-date")

    late_today = follow_up(customer, datetime.datetime.combine(TODAY, datetime.time(23, 59)))
    tomorrow = follow_up(customer, datetime.datetime.combine(TODAY, datetime.time()) + datetime.timedelta(days=1))
    assert found("followup-future") == {tomorrow.id}

    same_day = follow_up(customer, datetime.datetime(2025, 3, 5, 16, 0), next_date=datetime.date(2025, 3, 5))
    before = follow_up(customer, datetime.datetime(2025, 3, 5, 9, 0), next_date=datetime.date(2025, 3, 4))
    later = follow_up(customer, datetime.datetime(2025, 3, 5, 9, 0), next_date=datetime.date(2025, 3, 6))
    assert found("followup-next-before") == {before.id}
    assert not {same_day.id, later.id, late_today.id} & found("followup-next-before")

    today_order = make_order(customer, ordered_at=datetime.datetime.combine(TODAY, datetime.time(20, 0)))
    future_order = make_order(customer, ordered_at=datetime.datetime(2025, 6, 16, 0, 0))
    assert found("order-future") == {future_order.id}
    assert today_order.id not in found("order-future")


@pytest.mark.parametrize("column", quality.findings.WIDTH_COLUMNS)
def test_full_width_characters_in_each_column(make_customer, column):
    values = {"name": "ＡＢＣ科技", "contact": "王\u3000伟", "mobile": "13８12345678", "phone": "010－62345678",
              "email": "li＠example.com", "address": "北京市海淀区１号"}
    planted = make_customer(**{column: values[column]})
    chinese = make_customer(name="北京“星辰”科技有限公司。", contact="王伟", address="北京市海淀区1号、2号《甲》")
    assert planted.id in found("full-width")
    assert chinese.id not in found("full-width")  # 、。“”《》 are not full-width forms of ASCII


def test_untouched_records(make_customer, make_order):
    stale = make_customer()
    recent = make_customer()
    with_order = make_customer()
    with_follow_up = make_customer()
    old_activity = make_customer()
    cutoff = datetime.datetime(2024, 6, 15)
    Customer.update(updated_at=LONG_AGO).where(Customer.id != recent.id).execute()
    Customer.update(updated_at=cutoff).where(Customer.id == recent.id).execute()  # exactly 365 days: not stale
    make_order(with_order, ordered_at=datetime.datetime(2025, 1, 2))
    follow_up(with_follow_up, datetime.datetime(2024, 12, 1, 10, 0))
    make_order(old_activity, ordered_at=datetime.datetime(2023, 2, 1))
    assert found("stale") == {stale.id, old_activity.id}
    assert found("stale", stale_days=1000) == set()


def test_probable_duplicates_come_from_the_dedup_scan_within_the_scope(make_customer, users):
    item = quality.REGISTRY["probable-duplicates"]
    assert item.available() and item in quality.findings.available() and not item.deletable
    first = make_customer(owner="sales1", name="星辰科技有限公司", mobile="13711112222")
    second = make_customer(owner="sales1", name="星辰科技", mobile="13711112222")
    other_team = make_customer(owner="sales3", name="远方贸易", mobile="13711112222")
    alone = make_customer(owner="sales1", name="王伟", customer_type="个人", mobile="13733334444")
    namesake = make_customer(owner="sales1", name="王伟", customer_type="个人", mobile="13755556666")  # a common name is no evidence
    everyone = found("probable-duplicates")
    assert {first.id, second.id, other_team.id} <= everyone and not {alone.id, namesake.id} & everyone
    assert quality.scan(None, today=TODAY)["probable-duplicates"] == len(everyone)  # counted from the ids at hand
    sales = users["sales1"]
    assert quality.scan(sales, today=TODAY)["probable-duplicates"] == 2
    listed = quality.records("probable-duplicates", sales, today=TODAY)
    assert {row["id"] for row in listed["rows"]} == {first.id, second.id}
    with pytest.raises(quality.Refused, match="不能批量删除"):
        quality.delete("probable-duplicates", None, everything=True, today=TODAY)


def test_sql_rules_agree_with_the_python_rules(make_customer):
    """The per-backend SQL forms decide like models.standardise's regular expressions."""
    import re

    from models.standardise import EMAIL_RE, MOBILE_RE, PHONE_RE

    samples = ["13812345678", "1381234567", "23812345678", "13８12345678", "a@b.co", "a@b.c", "@b.co", "a@.co",
               "a@b.co1", "a b@c.de", "a@b@c.de", "first.last@example.com", "a@b.c.de", "a@x.c1.de", "a@b.co.",
               "x@y.zz\u3000", "010-62345678", "(010) 6234", "abc123", "12345", "0106234567890123456789", "1234５６",
               "ａ", "a\u3000", "normal", "x@y.z\u00a0z"]
    ids = {make_customer(name=s).id: s for s in samples}

    def names(condition):
        return {ids[c.id] for c in Customer.select(Customer.id).where(condition) if c.id in ids}

    checks = [(sql.valid_mobile, MOBILE_RE), (sql.valid_email, EMAIL_RE), (sql.valid_phone, PHONE_RE)]
    for rule, pattern in checks:
        assert names(rule(Customer.name)) == {s for s in samples if re.fullmatch(pattern.pattern, s)}, rule.__name__
    full_width = {s for s in samples if any(0xFF01 <= ord(c) <= 0xFF5E or c == "\u3000" for c in s)}
    assert names(sql.has_full_width(Customer.name)) == full_width
