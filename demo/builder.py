"""One slice of customers with everything hanging off them, as rows for the loader.

A slice depends only on the run's settings and its first index (its random stream is
seeded with both), so the same seed gives the same data whichever process builds which
slice.  Numbers that count across the whole run (customer codes, order and follow-up
numbers) are left as prefixes here and completed by `Numbering`, which sees the slices
in order in the writing process; it also seals the sensitive columns, so that the field
key never has to reach a worker.
"""
import math
import random

from models import sealed

from . import history, names, numbers, places, tags
from .names import Weighted, pick
from .seasons import Timeline

# Row layouts, by model field name; the loader maps them to columns.
CUSTOMER = ("id", "code", "name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region",
            "source", "address", "employees", "annual_revenue", "needs", "notes", "first_contact", "owner",
            "status", "id_number", "id_number_digest", "bank_account", "bank_account_digest", "created_at",
            "updated_at")
ORDER = ("customer", "order_no", "ordered_at", "amount", "quantity", "product", "channel")
FOLLOW_UP = ("record_no", "customer", "at", "method", "content", "result", "next_date", "user")
STATUS_CHANGE = ("customer", "from_status", "to_status", "reason", "user", "at")
FEEDBACK = ("customer", "kind", "score", "content", "status", "created_at")
CUSTOMER_TAG = ("customer", "tag", "source", "created_at")

COMPANY_SHARE = 0.65
GROWTH = 2.0  # new customers per day grow threefold from the first day to today

INDUSTRY_WEIGHTS = {"互联网": 18, "制造": 16, "零售": 14, "金融": 8, "教育": 8, "医疗": 8, "物流": 8, "房地产": 6,
                    "餐饮": 8, "能源": 6}
SOURCE_WEIGHTS = {"线上推广": 25, "官网咨询": 20, "展会": 15, "转介绍": 15, "电话营销": 15, "合作伙伴": 10}
NEEDS = ("计划采购{p}，预算约{b}万元", "希望年内完成{p}上线", "关注{p}的数据安全与权限管理",
         "现有系统到期，考虑替换为{p}", "需要{p}对接现有ERP", "咨询{p}的价格与服务条款")
MANUAL_TAGS = Weighted(((0, 60), (1, 30), (2, 10)))  # how many tags a rep adds by hand
PERSONAL_NEEDS = ("咨询{p}的使用方式", "想了解{p}的优惠活动", "比较{p}与同类产品", None, None)


class Context:
    """The settings every slice shares; plain data, so it can be sent to a worker process."""

    def __init__(self, seed, total, now, regions, industries, sources, owners, tag_ids, orders_scale=1.0):
        self.seed = seed
        self.orders_scale = orders_scale  # see history.live
        self.total = total
        self.now = now
        self.regions = regions  # [(name, code, weight)]
        self.industries = industries
        self.sources = sources  # [(name, weight)]
        self.owners = owners  # [(user id, weight)]
        self.tag_ids = tag_ids  # name -> id

    def prepare(self):
        """The derived tables, built once per process."""
        self.timeline = Timeline(self.now)
        self.numbers = numbers.Numbers(self.seed, self.timeline.today)
        self.region = Weighted(((name, code), weight) for name, code, weight in self.regions)
        self.industry = Weighted(((name, code), weight) for name, code, weight in self.industries)
        self.source = Weighted(self.sources)
        self.owner = Weighted(self.owners)
        self.city = {name: Weighted((city, city[4]) for city in places.cities_of(name)) for name, _, _ in self.regions}
        return self


def build(ctx, start, stop):
    """Rows for customers start..stop-1 (ids start+1..stop): a dict of table name -> list of rows."""
    rng = random.Random(f"{ctx.seed}:{start}")
    tl = ctx.timeline
    rows = {name: [] for name in ("customer", "order", "follow_up", "status_change", "feedback", "customer_tag")}
    for index in range(start, stop):
        customer = _customer(rng, ctx, index)
        h = history.live(rng, tl, customer, ctx.orders_scale)
        cid = index + 1
        owner = customer["owner"]
        customer["status"] = h.status
        customer["updated_at"] = h.changes[-1][0]
        _sensitive(rng, ctx, customer, index, bool(h.orders))
        rows["customer"].append([customer[name] for name in CUSTOMER])
        order_rows = rows["order"]
        for o in h.orders:
            order_rows.append([cid, tl.compact[o.day], o.stamp, f"{o.amount:.2f}", o.quantity, o.product, o.channel])
        follow_rows = rows["follow_up"]
        for day, stamp, method, content, result, next_date in h.follow_ups:
            follow_rows.append([tl.compact[day], cid, stamp, method, content, result, next_date, owner])
        change_rows = rows["status_change"]
        for stamp, old, new, reason, by_owner in h.changes:
            change_rows.append((cid, old, new, reason, owner if by_owner else None, stamp))
        for kind, score, content, status, stamp in h.feedback:
            rows["feedback"].append((cid, kind, score, content, status, stamp))
        _tags(rng, ctx, customer, h, cid, rows["customer_tag"])
    return rows


def _first_t(ctx, rng, index):
    """Stratified draw from a linearly growing intake: sorted by index, so ids follow first contact."""
    u = (index + rng.random()) / ctx.total
    x = (math.sqrt(1 + 2 * GROWTH * u * (1 + GROWTH / 2)) - 1) / GROWTH
    return x * ctx.timeline.now_t


def _customer(rng, ctx, index):
    tl = ctx.timeline
    region, region_code = ctx.region(rng)
    industry, industry_code = ctx.industry(rng)
    city, area_code, area, districts, _ = ctx.city[region](rng)
    first_t = _first_t(ctx, rng, index)
    first_day = int(first_t)
    company = rng.random() < COMPANY_SHARE
    customer = {
        "id": index + 1,
        "region": region,
        "industry": industry,
        "source": ctx.source(rng),
        "owner": ctx.owner(rng),
        "first_t": first_t,
        "first_day": first_day,
        "first_contact": tl.date[first_day],
        "customer_type": "企业" if company else "个人",
        "mobile": ctx.numbers.mobile(rng, index),
        # Completed by Numbering: the sequence counts over the whole run in first-contact order.
        "code": f"{region_code or 'XX'}-{industry_code or 'XX'}-{tl.date[first_day][:4]}-",
    }
    product = pick(rng, history.PRODUCTS)[0]
    street = f"{pick(rng, districts)}{pick(rng, places.ROADS)}{1 + int(rng.random() * 998)}号"
    if company:
        contact_male = rng.random() < 0.6
        contact, contact_py = names.person(rng, contact_male)
        name, domain = names.company(rng, city, industry)
        employees = max(3, min(60000, int(math.exp(rng.gauss(math.log(60), 1.3)))))
        customer.update(
            name=name,
            contact=contact,
            phone=numbers.landline(rng, area_code) if rng.random() < 0.65 else None,
            email=f"{contact_py}@{domain}" if rng.random() < 0.75 else None,
            address=f"{city}市{street}{pick(rng, places.BUILDINGS)}{2 + int(rng.random() * 38)}层",
            employees=employees,
            annual_revenue=f"{max(10, round(employees * rng.lognormvariate(math.log(40), 0.6))) * 10000}.00",
            needs=pick(rng, NEEDS).format(p=product, b=2 + int(rng.random() * 198)) if rng.random() < 0.6 else None,
            notes=f"联系人为{pick(rng, names.TITLES)}" if rng.random() < 0.5 else None,
            plain_id=None,
        )
    else:
        # Most people are registered where they live; the rest moved there.
        home = area if rng.random() < 0.8 else pick(rng, places.ALL_CITIES)[2]
        id_number, male = ctx.numbers.identity(index, home)
        name, name_py = names.person(rng, male)
        needs = pick(rng, PERSONAL_NEEDS)
        customer.update(
            name=name,
            contact=name,
            phone=numbers.landline(rng, area_code) if rng.random() < 0.1 else None,
            email=names.personal_email(rng, name_py) if rng.random() < 0.6 else None,
            address=f"{city}市{street}" if rng.random() < 0.7 else None,
            employees=None,
            annual_revenue=None,
            needs=needs.format(p=product) if needs else None,
            notes=None,
            plain_id=id_number,
        )
    customer["basket"] = history.basket_mean(rng, customer["customer_type"])
    return customer


def _sensitive(rng, ctx, customer, index, bought):
    """Plain values for now; `Numbering.apply` seals them and fills the digests."""
    account = None
    if bought and rng.random() < 0.4:
        if customer["customer_type"] == "个人":
            account = ctx.numbers.bank_card(rng, index)
        else:
            account = ctx.numbers.company_account(rng, index)
    customer["id_number"] = customer["plain_id"]
    customer["id_number_digest"] = None
    customer["bank_account"] = account
    customer["bank_account_digest"] = None


def _tags(rng, ctx, customer, h, cid, out):
    chosen = {name: "rule" for name in tags.rule_tags(customer, h, ctx.timeline)}
    for _ in range(MANUAL_TAGS(rng)):
        name = pick(rng, tags.MANUAL)
        if name not in chosen and (name not in tags.COMPANY_ONLY or customer["customer_type"] == "企业"):
            chosen[name] = "manual"
    stamp = customer["updated_at"]
    for name, source in chosen.items():
        out.append((cid, ctx.tag_ids[name], source, stamp))


_SEALED = [(CUSTOMER.index(name), CUSTOMER.index(name + "_digest")) for name in ("id_number", "bank_account")]


class Numbering:
    """Completes the run-wide sequences, seeing the slices in order (ids in first-contact order),
    and seals the sensitive columns as Customer.save() would, since the loader writes values as given."""

    def __init__(self):
        self.codes = {}
        self.orders = {}
        self.records = {}

    def apply(self, rows):
        codes = self.codes
        seal, digest = sealed.seal, sealed.digest
        for row in rows["customer"]:
            prefix = row[1]
            n = codes[prefix] = codes.get(prefix, 0) + 1
            row[1] = f"{prefix}{n:03d}"
            for plain, hashed in _SEALED:
                if row[plain]:
                    row[hashed] = digest(row[plain])
                    row[plain] = seal(row[plain])
        orders = self.orders
        for row in rows["order"]:
            day = row[1]
            n = orders[day] = orders.get(day, 0) + 1
            row[1] = f"SO{day}{n:05d}"
        records = self.records
        for row in rows["follow_up"]:
            day = row[0]
            n = records[day] = records.get(day, 0) + 1
            row[0] = f"{day}{n:03d}"
        return rows
