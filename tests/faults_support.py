"""Helpers of the fault tests (tests/test_faults_*.py): seeded customers and orders, tag rules whose
matches are computed here independently of the engine, a logged-in HTTP user of a real server, and the
invariants a customer edit promises (the record and its audit entry together, or neither)."""
import datetime
import decimal
import json
import random
import re

import requests

import models
from models import AuditLog, Customer, CustomerTag, Order, Tag, TagRule, TagRuleEpisode
from tests.conftest import PASSWORD
from tests.policy_support import form_values

AS_OF = datetime.date(2026, 6, 30)  # the sweeps' day: fixed, so the tests hold on any day
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
BUSY = "系统繁忙，请稍后重试"


def customers_csv(rows, name, mobile_prefix, month):
    """An import file of `rows` new customers (名称 `name`0…, mobiles `mobile_prefix`00000000…, first contact
    in 2024-`month`), as bytes for intake.runs.upload."""
    lines = ["客户名称,手机号码,所属行业,首次接触时间"]
    lines += [f"{name}{i}有限公司,{mobile_prefix}{i:08d},IT,2024-{month:02d}-{i % 28 + 1:02d}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def seeded_customers(count, seed, owner):
    """`count` customers of `owner` with 0-6 orders each over the year before AS_OF, made in bulk from a
    fixed seed; returns {customer id: [(ordered_at, amount), ...]}."""
    rng = random.Random(seed)
    start = models.Customer.select().count()
    rows = [{"code": f"HB-IT-2019-{seed:02d}{start + i:06d}", "name": f"故障测试客户{start + i:05d}", "customer_type": "企业",
             "mobile": f"137{start + i:08d}", "region": "华北", "industry": "互联网", "owner": owner,
             "first_contact": datetime.date(2025, 1, 2), "status": "潜在客户",
             "created_at": datetime.datetime(2025, 1, 2, 9), "updated_at": datetime.datetime(2025, 1, 2, 9)}
            for i in range(count)]
    with models.db.atomic():
        for offset in range(0, len(rows), 500):
            Customer.insert_many(rows[offset:offset + 500]).execute()
    ids = [c.id for c in Customer.select(Customer.id).where(Customer.code.startswith(f"HB-IT-2019-{seed:02d}"))
           .order_by(Customer.id)]
    orders, history = [], {cid: [] for cid in ids}
    for cid in ids:
        for _ in range(rng.choice((0, 0, 1, 2, 3, 4, 6))):
            at = datetime.datetime.combine(AS_OF, datetime.time(10)) - datetime.timedelta(days=rng.randrange(0, 365))
            amount = decimal.Decimal(rng.randrange(100, 60_000_00)) / 100
            orders.append({"customer": cid, "order_no": f"FO{seed:02d}{len(orders):08d}", "ordered_at": at,
                           "amount": amount, "quantity": 1, "product": "标准版", "channel": "线上"})
            history[cid].append((at, amount))
    with models.db.atomic():
        for offset in range(0, len(orders), 500):
            Order.insert_many(orders[offset:offset + 500]).execute()
    return history


# (tag, days, total at least, orders at least): "order total over the last `days` days >= total" and
# "orders in the last `days` days >= count", each an enabled rule of its own rule tag.
RULES = [(f"近{days}天{'金额' if total else '单数'}{total or count}", days, total, count)
         for days in (30, 60, 90, 180, 365) for total, count in ((20_000, None), (60_000, None), (None, 2))]


def make_rules():
    """The RULES as enabled tag rules; returns {rule id: (days, total, count)}."""
    made = {}
    for name, days, total, count in RULES:
        tag = Tag.create(name=name, category="行为", source="rule")
        metric = ({"metric": "order_total", "days": days, "op": ">=", "value": total} if total
                  else {"metric": "order_count", "days": days, "op": ">=", "value": count})
        rule = TagRule.create(name=name, tag=tag, condition=json.dumps({"all": [metric]}), enabled=True,
                              updated_by="test")
        made[rule.id] = (days, total, count)
    return made


def expected_matches(history, rules, as_of=AS_OF):
    """{rule id: customer ids it matches on as_of}, computed from the seeded orders, not by the engine."""
    end = datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time())
    out = {}
    for rule_id, (days, total, count) in rules.items():
        start = datetime.datetime.combine(as_of - datetime.timedelta(days=days - 1), datetime.time())
        hits = set()
        for cid, orders in history.items():
            inside = [amount for at, amount in orders if start <= at < end]
            if (total and sum(inside) >= total) or (count and len(inside) >= count):
                hits.add(cid)
        out[rule_id] = hits
    return out


def rule_state():
    """What the sweeps left: {rule id: {customer: [(episode, open?)]}} and {tag id: customers with a rule row}."""
    episodes = {}
    for rule_id, customer_id, episode, removed in (TagRuleEpisode.select(
            TagRuleEpisode.rule, TagRuleEpisode.customer, TagRuleEpisode.episode, TagRuleEpisode.removed_at).tuples()):
        episodes.setdefault(rule_id, {}).setdefault(customer_id, []).append((episode, removed is None))
    rows = {}
    for customer_id, tag_id in (CustomerTag.select(CustomerTag.customer, CustomerTag.tag)
                                .where(CustomerTag.source == "rule").tuples()):
        rows.setdefault(tag_id, set()).add(customer_id)
    return episodes, rows


def assert_swept_exactly(expected, rules):
    """The state one uninterrupted first sweep gives: each matching customer has one open episode (no. 1)
    of the rule and a rule row of its tag; nobody else has either."""
    episodes, rows = rule_state()
    tags = dict(TagRule.select(TagRule.id, TagRule.tag).tuples())
    for rule_id in rules:
        held = episodes.get(rule_id, {})
        assert set(held) == expected[rule_id], f"rule {rule_id}: episodes of the wrong customers"
        assert all(marks == [(1, True)] for marks in held.values()), f"rule {rule_id}: an episode twice"
        assert rows.get(tags[rule_id], set()) == expected[rule_id], f"rule {rule_id}: tag rows out of line"


def assert_rules_consistent(rules):
    """After any number of whole rule transactions: every open episode has its tag row and every rule row
    an open episode, no episode was opened twice, and each rule that changed anything has its audit entry."""
    episodes, rows = rule_state()
    tags = dict(TagRule.select(TagRule.id, TagRule.tag).tuples())
    audited = {int(r) for r, in AuditLog.select(AuditLog.record_id).where(AuditLog.action == "rule-apply").tuples()}
    for rule_id in rules:
        held = {cid for cid, marks in episodes.get(rule_id, {}).items() if any(is_open for _, is_open in marks)}
        assert rows.get(tags[rule_id], set()) == held, f"rule {rule_id}: tag rows and open episodes differ"
        assert all(len(marks) == 1 for marks in episodes.get(rule_id, {}).values())
        assert bool(held) == (rule_id in audited), f"rule {rule_id}: applied without its audit entry or vice versa"


class WebUser:
    """A user logged in to a real server over HTTP (requests), editing through the admin's forms."""

    def __init__(self, base, username, password=PASSWORD):
        self.base, self.username = base, username
        self.http = requests.Session()
        page = self.http.get(base + "/login", timeout=60)
        token = CSRF_RE.search(page.text).group(1)
        answer = self.http.post(base + "/login", data={"username": username, "password": password,
                                                       "csrf_token": token}, allow_redirects=False, timeout=60)
        assert answer.status_code == 302 and "/login" not in answer.headers["Location"], f"login of {username}"

    def edit_customer(self, customer_id, **changes):
        """GET the edit form, change `changes`, POST it as a browser would; the POST's response (or the
        GET's, when that failed)."""
        url = f"{self.base}/admin/customer/edit/?id={customer_id}"
        form = self.http.get(url, timeout=120)
        if form.status_code != 200:
            return form
        data = form_values(form.text)
        data.update(changes)
        return self.http.post(url, data=data, allow_redirects=False, timeout=120)


def saved(response):
    """A form post the admin accepted: a redirect away from the form."""
    return response.status_code == 302 and "/edit/" not in response.headers.get("Location", "")


def audited_notes():
    """{customer id: [notes after each audited update, in order]} from the audit log."""
    out = {}
    for record_id, changes in (AuditLog.select(AuditLog.record_id, AuditLog.changes)
                               .where((AuditLog.action == "update") & (AuditLog.model == "customer"))
                               .order_by(AuditLog.id).tuples()):
        change = json.loads(changes or "{}").get("notes")
        if change:
            out.setdefault(int(record_id), []).append(change[1])
    return out


def assert_edits_kept(acknowledged, attempted):
    """Every edit a client saw saved is in the database with its audit entry, and the database holds no
    edit without one: a customer's notes are the last audited value, the audited values are, in order,
    the values its client sent (each once), and they include every acknowledged one.  `acknowledged`
    and `attempted`: {customer id: [notes values in the order they were sent]}."""
    history = audited_notes()
    notes = dict(Customer.select(Customer.id, Customer.notes).where(Customer.id.in_(list(attempted))).tuples())
    for cid, sent in attempted.items():
        audited = history.get(cid, [])
        assert audited == sent[:len(audited)], f"customer {cid}: audited {audited}, sent {sent}"
        assert set(acknowledged.get(cid, [])) <= set(audited), f"customer {cid}: an acknowledged edit is lost"
        assert notes[cid] == (audited[-1] if audited else None), f"customer {cid}: saved without its audit entry"
