"""The access policy, checked case by case on every page, export and form POST.

The cases are generated from the policy itself: role x model x action from the seeded
permissions (`access.defaults.ROLES`), role x model x column from each screen's
declarations (`admin.SCREENS`).  What each case expects is read at run time from the live
grant (`access.grant_for(user)`: can / access / visible / clear / writable) and the row
scope (`access.owner_ids`), so a change of the defaults changes the expectations with it.
A few tests at the end pin the defaults the issue states, so a wrong policy file fails too.

One database is built per module; read-only checks share cached page responses (one
request serves every column of a page), and each writing test works on fresh records
that are removed again afterwards.
"""
import datetime
import decimal
import itertools
import json
import re

import pytest

import access
import models
import numberformat
from access.defaults import ALL_MODELS, RECORDS, ROLES
from access.grant import HIDDEN, MASKED
from access.scope import owner_ids
from admin import SCREENS
from admin.labels import labels_for
from models import (AuditLog, Choice, Customer, CustomerTag, Feedback, FollowUp, Order, ReportRun, Role, StatusChange,
                    Subscription, Tag, User)
from models.people import ACTIONS
from tests import policy_support as ps
from tests.conftest import ROLE_USERS

SCREEN = {endpoint: (view_class, model) for view_class, model, endpoint, _category in SCREENS}
# Screens that stay append-only whatever the policy grants (history and the audit trail).
APPEND_ONLY = {("statuschange", "edit"), ("statuschange", "delete"), ("auditlog", "delete")}
# The owner whose customers each role reaches without owning them all: in scope, not the caller.
IN_SCOPE_OWNER = {"admin": "sales3", "manager": "sales2", "sales": "sales1", "service": "sales3"}
# Owners of the scope fixtures: every team, a manager, and nobody.
SCOPE_OWNERS = ("sales1", "sales2", "sales3", "manager", "manager2", None)
# A column whose value tells the rows of an export apart.
EXPORT_KEY = {"customer": "code", "followup": "record_no", "order": "order_no", "feedback": "content",
              "statuschange": "reason", "customertag": "customer", "tag": "name", "choice": "name",
              "user": "username", "role": "name", "auditlog": "username", "reportrun": "run_id",
              "subscription": "name"}
# Lists where the subject record may be past page one: pin it with a search.
LIST_PIN = {"choice": "矩阵来源", "auditlog": "matrixaudit"}
# A column changed alongside a read-only one, to prove the save went through.
PROBES = {"customer": ("name", "contact", "notes"), "followup": ("content", "method"), "order": ("product", "channel"),
          "feedback": ("content", "kind"), "statuschange": ("reason",), "customertag": ("tag", "customer"),
          "tag": ("category", "name"), "choice": ("position", "code"), "user": ("display_name", "email"),
          "role": ("label", "description"), "subscription": ("name", "recipient_emails")}
# Inputs that only count together with another: a schedule's day, weekday, time or cron expression
# is kept only for its own schedule kind (subscriptions.clean), so changing one posts the kind too.
COMPANIONS = {("subscription", "weekday"): {"schedule_kind": "weekly"},
              ("subscription", "time"): {"schedule_kind": "weekly"},
              ("subscription", "day"): {"schedule_kind": "monthly"},
              ("subscription", "cron"): {"schedule_kind": "cron"},
              ("subscription", "schedule_kind"): {"cron": "30 9 * * 1-5"}}
# The matrix's alternative values repeat across its cases, so a new or edited customer may look like
# another (dedup's check before saving); the confirmation is what a user ticks, and beside the point here.
CONFIRMATIONS = {"customer": {"confirm_duplicates": "1"}}
# Users that receive subscriptions need an e-mail address.
EMAILS = {"admin": "admin@example.com", "manager": "manager@example.com", "sales1": "sales1@example.com"}
NEW_PASSWORD = "changed-pass-4321"


# --- cases, generated from the policy and the screens -------------------------------------
def columns_of(model):
    view_class = SCREEN[model][0]
    seen = []
    for column in (*view_class.list_columns, *view_class.detail_columns, *view_class.form_fields):
        if column not in seen:
            seen.append(column)
    return seen


def seeded_actions(role, model):
    return set(ROLES[role]["permissions"].get(model, "").split())


PERMISSION_CASES = [(r, m, a) for r in ROLES for m in ALL_MODELS for a in ACTIONS]
COLUMN_CASES = [(r, m, c) for r in ROLES for m in ALL_MODELS if "view" in seeded_actions(r, m) for c in columns_of(m)]
WRITE_CASES = [
    (r, m, c)
    for r in ROLES
    for m in ALL_MODELS
    if seeded_actions(r, m) & {"create", "edit"}
    for c in SCREEN[m][0].form_fields
]
SEARCH_CASES = [
    (r, m, c) for r in ROLES for m in ALL_MODELS if "view" in seeded_actions(r, m) for c in SCREEN[m][0].search_kinds
]
SCOPE_CASES = [(r, m) for r in ROLES for m in RECORDS]


def label_of(model, column):
    """The Chinese column label users see on `model`'s screens."""
    return labels_for(model, "zh").get(column, column)


def case_id(case):
    return "-".join(str(part) for part in case)


def allowed(grant, model, action):
    """What the policy lets the role do on a screen, given what the screen can do at all."""
    if not grant.can(model, "view") or (model, action) in APPEND_ONLY:
        return False
    if action in ("create", "edit") and not any(grant.writable(model, f) for f in SCREEN[model][0].form_fields):
        return False
    return grant.can(model, action)


def normal(value):
    """Comparable form of a stored or expected value."""
    if isinstance(value, models.BaseModel):
        return value.get_id()
    if isinstance(value, decimal.Decimal):
        return value.quantize(decimal.Decimal("0.01"))
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, float):
        return decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"))
    return value


# --- the data every case reads ------------------------------------------------------------
_serial = itertools.count(1)


class World:
    """One application and database per module, with fixtures owned by every team."""

    def __init__(self, app):
        self.app = app
        self.users = {u.username: u for u in User.select()}
        self.roles = {r.name: r for r in Role.select()}
        self._clients = {}
        self._pages = {}

    # people and policy
    def user(self, role):
        return self.users[ROLE_USERS[role]]

    def grant(self, role):
        return access.grant_for(User.get_by_id(self.user(role).id))

    def client(self, role):
        if role not in self._clients:
            self._clients[role] = ps.login_client(self.app, ROLE_USERS[role])
        return self._clients[role]

    def page(self, role, url):
        """GET url as role, once per module (read-only checks share it)."""
        key = (role, url)
        if key not in self._pages:
            self._pages[key] = self.client(role).get(url)
        return self._pages[key]

    def text(self, role, url):
        return self.page(role, url).get_data(as_text=True)

    def parsed(self, parser, role, url):
        """parser(page text or response), once per module."""
        key = (parser, role, url)
        if key not in self._pages:
            response = self.page(role, url)
            self._pages[key] = parser(response if "/export/" in url else response.get_data(as_text=True))
        return self._pages[key]

    def list_url(self, model):
        pin = LIST_PIN.get(model)
        return f"/admin/{model}/" + (f"?search={pin}" if pin else "")

    # seeding
    def seed(self):
        u = self.users
        self.tags = [Tag.create(name="矩阵标签甲", category="价值"), Tag.create(name="矩阵标签乙", category="行为"),
                     Tag.create(name="范围标签", category="行为")]
        self.scope = {model: {} for model in RECORDS}
        for index, owner in enumerate(SCOPE_OWNERS):
            key = owner or "nobody"
            if owner == "sales1":
                customer = Customer.create(
                    code="HB-IT-2023-901", name="矩阵展示客户", customer_type="个人", contact="联系人矩阵",
                    mobile="13812345678", phone="010-66668888", email="matrix.show@example.com", industry="互联网",
                    region="华北", source="展会", address="矩阵路88号", employees=43217,
                    annual_revenue=decimal.Decimal("98765432.17"), needs="需求矩阵描述", notes="备注矩阵内容",
                    first_contact=datetime.date(2023, 7, 19), owner=u["sales1"], status="意向客户",
                    id_number="110101199001011234", bank_account="6222021234567890123")
                followup = FollowUp.create(record_no="20230719901", customer=customer,
                                           at=datetime.datetime(2023, 7, 19, 9, 30), method="拜访", content="跟进内容矩阵",
                                           result="有意向", next_date=datetime.date(2023, 8, 2), user=u["sales1"])
                order = Order.create(customer=customer, order_no="SO-MATRIX-0001",
                                     ordered_at=datetime.datetime(2023, 7, 20, 10, 15),
                                     amount=decimal.Decimal("7654.32"), quantity=37, product="矩阵专业版", channel="矩阵渠道")
                feedback = Feedback.create(customer=customer, kind="投诉", score=4, content="反馈内容矩阵", status="处理中",
                                           created_at=datetime.datetime(2023, 7, 21, 8, 0))
                change = StatusChange.create(customer=customer, from_status="潜在客户", to_status="意向客户",
                                             reason="状态原因矩阵", user=u["sales1"],
                                             at=datetime.datetime(2023, 7, 22, 11, 0))
                tagged = CustomerTag.create(customer=customer, tag=self.tags[0],
                                            created_at=datetime.datetime(2023, 7, 23, 12, 0))
            else:
                customer = Customer.create(
                    name=f"范围客户{key}", mobile=f"1390000{index:04d}", region="华北", industry="互联网",
                    first_contact=datetime.date(2024, 1, 1), owner=u[owner] if owner else None,
                    id_number=f"11010119850101{index:04d}")
                followup = FollowUp.create(record_no=f"2023060100{index}", customer=customer, method="电话",
                                           content=f"范围跟进{key}", at=datetime.datetime(2023, 6, 1, 9, 0))
                order = Order.create(customer=customer, order_no=f"SO-SCOPE-{key}",
                                     ordered_at=datetime.datetime(2023, 6, 2), amount=decimal.Decimal("10.00"))
                feedback = Feedback.create(customer=customer, kind="建议", content=f"范围反馈{key}")
                change = StatusChange.create(customer=customer, to_status="潜在客户", reason=f"范围原因{key}")
                tagged = CustomerTag.create(customer=customer, tag=self.tags[2])
            for model, record in (("customer", customer), ("followup", followup), ("order", order),
                                  ("feedback", feedback), ("statuschange", change), ("customertag", tagged)):
                self.scope[model][owner] = record
        showcase_user = User(username="matrixuser", display_name="矩阵用户", email="matrix.user@example.com",
                             role=self.roles["sales"], manager=None, active=True, must_change_password=False)
        showcase_user.set_password("matrix-pass-1")
        showcase_user.save()
        self.users["matrixuser"] = showcase_user
        subjects = {model: self.scope[model]["sales1"] for model in RECORDS}
        subjects["tag"] = self.tags[0]
        subjects["choice"] = Choice.create(kind="source", name="矩阵来源", code="JZX", position=99)
        subjects["user"] = showcase_user
        subjects["role"] = Role.create(name="matrixrole", label="矩阵角色", row_scope="team", description="矩阵角色说明")
        subjects["reportrun"] = ReportRun.create(
            run_id="20230724-083000-c0ffee", report="matrixreport", user=u["sales1"], username="sales1",
            parameters=json.dumps({"as_of": "2023-07-24", "owner_ids": [u["sales1"].id]}), code_version="abc1234",
            watermark=json.dumps({"orders": {"rows": 3}}), status="failed", error_name="MatrixError",
            error="矩阵错误信息", started_at=datetime.datetime(2023, 7, 24, 8, 30),
            finished_at=datetime.datetime(2023, 7, 24, 8, 31), duration=61.25)
        for username, address in EMAILS.items():
            User.update(email=address).where(User.username == username).execute()
        subjects["subscription"] = Subscription.create(
            name="矩阵订阅", report="value", parameters=json.dumps({"regions": ["华东"]}, ensure_ascii=False),
            schedule_kind="weekly", weekday=1, time="08:00", timezone="Asia/Shanghai",
            recipient_users=json.dumps([u["sales1"].id]), recipient_emails="matrix.sub@example.com", owner=u["sales1"],
            created_at=datetime.datetime(2023, 7, 25, 9, 0), updated_at=datetime.datetime(2023, 7, 26, 10, 0))
        subjects["auditlog"] = AuditLog.create(at=datetime.datetime(2023, 7, 24, 8, 30), username="matrixaudit",
                                               action="matrixact", model="customer", record_id="424242", rows=17,
                                               changes=json.dumps({"name": ["a", "b"]}), ip="10.9.8.7")
        # reload, so values are what the database returns
        self.subjects = {m: type(s).get_by_id(s.id) for m, s in subjects.items()}
        self.secrets = {
            ("customer", c) for c in ("code", "name", "contact", "mobile", "phone", "email", "address",
                                      "annual_revenue", "needs", "notes", "id_number", "bank_account")
        } | {("followup", "record_no"), ("followup", "content"), ("order", "order_no"), ("order", "amount"),
             ("order", "product"), ("order", "channel"), ("feedback", "content"), ("statuschange", "reason"),
             ("customertag", "tag"), ("tag", "name"), ("choice", "name"), ("user", "username"),
             ("user", "display_name"), ("user", "email"), ("role", "name"), ("role", "label"), ("role", "description"),
             ("auditlog", "username"), ("auditlog", "action"), ("auditlog", "record_id"), ("auditlog", "ip"),
             ("reportrun", "run_id"), ("reportrun", "report"), ("reportrun", "code_version"), ("reportrun", "error"),
             ("subscription", "name"), ("subscription", "recipient_emails")}
        self.watermarks = self.marks()

    # values of the subject records
    def raw(self, model, column):
        return getattr(self.subjects[model], column)

    def clear_text(self, model, column):
        """The value as plain text (used to look for leaks of it)."""
        return ps.plain(self.raw(model, column))

    def masked_text(self, model, column):
        value = self.raw(model, column)
        return access.mask(value if not isinstance(value, models.BaseModel) else str(value))

    def secret(self, model, column):
        """The distinctive clear value, looked for on whole pages where it must not appear: as stored (exports)
        and as screens show it (an amount with thousands separators)."""
        if (model, column) not in self.secrets:
            return None
        value = self.raw(model, column)
        shown = numberformat.amount(value) if isinstance(value, decimal.Decimal) else None
        return tuple(t for t in (self.clear_text(model, column), shown) if t)

    def shown(self, grant, model, column):
        """Whether a cell shows the subject's value as the grant says: exactly masked, or in clear
        in any of the app's presentations (money to 2 decimals, times to the minute, choice labels)."""
        level = grant.access(model, column)
        assert level != HIDDEN
        presented = PRESENTED.get((model, column))
        if presented is not None and level != MASKED:
            return presented if isinstance(presented, Expect) else Expect(repr(presented), presented.__eq__)
        if level == MASKED:
            masked = self.masked_text(model, column)
            return Expect(f"masked {masked!r}", lambda actual: actual == masked)
        value = self.raw(model, column)
        field = SCREEN[model][1]._meta.fields.get(column)
        return Expect(f"clear {value!r}", lambda actual: reads_as(value, field, actual))

    def recorder(self, role):
        """A 跟进人 the role may pick: a colleague where its row scope holds one (sales2 for the manager of
        sales1 and sales2; anyone for a scope of all), else oneself."""
        user = self.user(role)
        allowed = owner_ids(user, self.grant(role))
        colleague = self.users["sales2"]
        return colleague if allowed is None or colleague.id in allowed else user

    # scratch records
    TRACKED = (Subscription, ReportRun, CustomerTag, Feedback, Order, FollowUp, StatusChange, Customer, Tag, Choice, User, Role)

    def marks(self):
        return {m: _max_id(m) for m in self.TRACKED}

    def clean_up(self):
        """Remove everything created after the fixtures (tests' own records)."""
        for model in self.TRACKED:
            model.delete().where(model.id > self.watermarks[model]).execute()

    def fresh_customer(self, owner_username, **fields):
        n = next(_serial)
        values = {"name": f"临时客户{n:05d}", "mobile": f"137{n:08d}", "region": "华北", "industry": "互联网",
                  "first_contact": datetime.date(2022, 1, 1), "owner": self.users[owner_username],
                  "id_number": f"44030119900101{n:04d}", "bank_account": f"62220000{n:08d}", "contact": "原联系人",
                  "notes": "原备注", "annual_revenue": decimal.Decimal("5000.00"), "employees": 12}
        values.update(fields)
        return Customer.create(**values)

    def victim(self, role, model, owner=None):
        """A fresh record of `model` that `role` reaches (owned inside its scope where scoped), or `owner`'s."""
        n = next(_serial)
        owner = owner or IN_SCOPE_OWNER[role]
        if model == "customer":
            return self.fresh_customer(owner)
        if model in RECORDS:
            customer = self.fresh_customer(owner)
            if model == "followup":
                return FollowUp.create(record_no=f"2022{n:07d}", customer=customer, method="电话", content="原内容",
                                       at=datetime.datetime(2022, 1, 1, 9, 0))
            if model == "order":
                return Order.create(customer=customer, order_no=f"SO-V{n:06d}",
                                    ordered_at=datetime.datetime(2022, 1, 2), amount=decimal.Decimal("100.00"),
                                    quantity=1, product="原产品", channel="原渠道")
            if model == "feedback":
                return Feedback.create(customer=customer, kind="满意度", score=5, content="原反馈", status="待处理")
            if model == "statuschange":
                return StatusChange.create(customer=customer, to_status="潜在客户", reason="原原因")
            if model == "customertag":
                return CustomerTag.create(customer=customer, tag=self.tags[0])
        if model == "tag":
            return Tag.create(name=f"原标签{n}", category="行为")
        if model == "choice":
            return Choice.create(kind="source", name=f"原来源{n}", code="YY", position=50)
        if model == "user":
            return User.create(username=f"victim{n}", display_name="原姓名", role=self.roles["sales"], active=True,
                               must_change_password=False, password_hash="unusable")
        if model == "role":
            return Role.create(name=f"victimrole{n}", label="原角色", row_scope="own")
        if model == "auditlog":
            return AuditLog.create(username=f"victim{n}", action="victim", model="customer", record_id=str(n))
        if model == "reportrun":
            return ReportRun.create(run_id=f"20220101-000000-v{n:05d}", report="victim", status="success",
                                    user=self.users[owner], username=owner)
        if model == "subscription":
            return Subscription.create(name=f"原订阅{n}", report="value", schedule_kind="weekly", weekday=1,
                                       time="08:00", recipient_emails="victim@example.com", owner=self.users[owner])
        raise AssertionError(model)

    def alternative(self, role, model, column):
        """(value to POST, value expected in the database) for changing `column` as `role`."""
        n = next(_serial)
        customer = lambda: self.fresh_customer(IN_SCOPE_OWNER[role])  # noqa: E731
        other_owner = {"admin": "manager2", "manager": "sales1", "sales": "sales2", "service": "sales2"}[role]
        table = {
            "customer": {
                "code": (f"XB-NY-2022-{n:04d}", f"XB-NY-2022-{n:04d}"), "name": (f"改名客户{n}", f"改名客户{n}"),
                "customer_type": ("个人", "个人"), "contact": ("改联系人", "改联系人"),
                "mobile": ("13698765432", "13698765432"), "phone": ("021-55556666", "021-55556666"),
                "email": (f"alt{n}@example.com", f"alt{n}@example.com"), "industry": ("金融", "金融"),
                "region": ("华南", "华南"), "source": ("转介绍", "转介绍"), "address": ("改地址", "改地址"),
                "employees": ("77", 77), "annual_revenue": ("1234.56", decimal.Decimal("1234.56")),
                "needs": ("改需求", "改需求"), "notes": ("改备注", "改备注"),
                "first_contact": ("2022-02-02", datetime.date(2022, 2, 2)),
                "owner": (str(self.users[other_owner].id), self.users[other_owner].id),
                "id_number": ("440301199202023456", "440301199202023456"),
                "bank_account": ("6228480000000000077", "6228480000000000077"),
                "consent_purpose": ("改同意用途", "改同意用途"), "consent_at": ("2022-06-06", datetime.date(2022, 6, 6)),
                "consent_withdrawn_at": ("2022-07-07", datetime.date(2022, 7, 7)),
            },
            "followup": {"at": ("2022-03-03 10:00:00", datetime.datetime(2022, 3, 3, 10, 0)), "method": ("邮件", "邮件"),
                         "content": ("改内容", "改内容"), "result": ("需跟进", "需跟进"),
                         "next_date": ("2022-04-04", datetime.date(2022, 4, 4)),
                         "user": (str(self.recorder(role).id), self.recorder(role).id)},
            "order": {"order_no": (f"SO-ALT-{n:06d}", f"SO-ALT-{n:06d}"),
                      "ordered_at": ("2022-05-05 10:00:00", datetime.datetime(2022, 5, 5, 10, 0)),
                      "amount": ("888.88", decimal.Decimal("888.88")), "quantity": ("9", 9),
                      "product": ("改产品", "改产品"), "channel": ("改渠道", "改渠道")},
            "feedback": {"kind": ("建议", "建议"), "score": ("2", 2), "content": ("改反馈", "改反馈"),
                         "status": ("已解决", "已解决")},
            "statuschange": {"to_status": ("成交客户", "成交客户"), "reason": ("改原因", "改原因")},
            "customertag": {"tag": (str(self.tags[1].id), self.tags[1].id)},
            "tag": {"name": (f"改标签{n}", f"改标签{n}"), "category": ("偏好", "偏好"), "source": ("rule", "rule")},
            "choice": {"kind": ("region", "region"), "name": (f"改选项{n}", f"改选项{n}"), "code": ("GG", "GG"),
                       "aliases": ("别名甲,别名乙", "别名甲,别名乙"),
                       "position": ("42", 42)},
            "user": {"username": (f"altuser{n}", f"altuser{n}"), "display_name": ("改姓名", "改姓名"),
                     "email": (f"altuser{n}@example.com", f"altuser{n}@example.com"),
                     "role": (str(self.roles["service"].id), self.roles["service"].id),
                     "manager": (str(self.users["manager2"].id), self.users["manager2"].id),
                     "active": (None, False), "must_change_password": ("y", True),
                     "new_password": (NEW_PASSWORD, True)},
            "role": {"name": (f"altrole{n}", f"altrole{n}"), "label": ("改标签", "改标签"), "row_scope": ("team", "team"),
                     "require_totp": ("y", True), "description": ("改说明", "改说明")},
            "subscription": {
                "name": (f"改订阅{n}", f"改订阅{n}"), "report": ("segmentation", "segmentation"),
                "parameters": ("regions=华北,华南", json.dumps({"regions": ["华北", "华南"]}, ensure_ascii=False)),
                "schedule_kind": ("cron", "cron"), "weekday": ("3", 3), "day": ("15", 15), "time": ("09:30", "09:30"),
                "cron": ("30 9 * * 1-5", "30 9 * * 1-5"), "timezone": ("Europe/Berlin", "Europe/Berlin"),
                "recipient_users": ([str(self.user(role).id)], json.dumps([self.user(role).id])),
                "recipient_emails": (f"alt{n}@example.com", f"alt{n}@example.com"), "enabled": (None, False)},
        }
        if column == "customer" and model in RECORDS:
            target = customer()
            return str(target.id), target.id
        return table[model][column]


class Expect:
    def __init__(self, description, test):
        self.description, self.test = description, test

    def __call__(self, actual):
        return self.test(actual)

    def __repr__(self):
        return self.description


# Computed or translated cells: the subject's value as the screen words it (column -> expected text or test).
PRESENTED = {("auditlog", "model"): "客户（customer）",  # the audit screen names the table and the fields
             ("auditlog", "changes"): "客户名称: a → b",
             ("subscription", "report"): "客户价值（value）", ("subscription", "parameters"): "地区：华东",
             ("subscription", "schedule"): "每周一 08:00", ("subscription", "recipients"): "李销售、matrix.sub@example.com",
             ("subscription", "enabled"): "已启用", ("subscription", "last_delivery"): "从未发送",
             ("subscription", "next_run"): Expect("a Monday 08:00", lambda actual: bool(re.fullmatch(
                 r"\d{4}-\d{2}-\d{2} 08:00", actual)) and datetime.date.fromisoformat(actual[:10]).weekday() == 0)}


def reads_as(value, field, actual):
    """Whether the text `actual` presents `value` in clear."""
    if value is None or value == "":
        return actual == ""
    if isinstance(value, bool):
        return True  # shown as an icon
    if isinstance(value, decimal.Decimal):  # screens: ¥1,234.50 (numberformat); exports: the plain 1234.50
        if actual == numberformat.money(value):
            return True
        try:
            return decimal.Decimal(actual) == value
        except decimal.InvalidOperation:
            return False
    if isinstance(value, int):  # screens: 1,234; exports: 1234
        return actual in (numberformat.count(value), str(value))
    if isinstance(value, Customer):  # a follow-up's 客户编号 column: the code, then the name
        return actual in (ps.plain(value), f"{value.code} {value.name}")
    if isinstance(value, datetime.datetime):
        return actual.startswith(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, datetime.date):
        return actual == value.isoformat()
    if field is not None and field.choices:
        return actual in (value, dict(field.choices).get(value))
    return actual == ps.plain(value)


def leaks(secret, text):
    return any(form in text for form in secret)


def _max_id(model):
    row = model.select(model.id).order_by(model.id.desc()).first()
    return row.id if row else 0


def stored(model, record_id, column):
    """The value now in the database; for new_password whether the changed password works."""
    model_class = SCREEN[model][1]
    if column == "new_password":
        row = model_class.get_or_none(model_class.id == record_id)
        return None if row is None else row.check_password(NEW_PASSWORD)
    return normal(ps.stored(model_class, record_id, column))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = ps.build_app(tmp_path_factory.mktemp("policy-matrix"))
    world = World(app)
    world.seed()
    yield world
    models.db.close()


@pytest.fixture
def scratch(world):
    """Fresh records for writing tests; everything created during the test is removed afterwards."""
    yield world
    world.clean_up()


def new_ids(model, before):
    model_class = SCREEN[model][1]
    return {row.id for row in model_class.select(model_class.id).where(model_class.id > before)}


def post_with_token(client, url, data):
    payload = dict(data)
    payload["csrf_token"] = ps.any_csrf_token(client)
    return client.post(url, data=payload)


def response_problem(response):
    html = response.get_data(as_text=True)
    return f"status {response.status_code}; errors: {ps.flashed_errors(html)}"


# --- role x model x action ---------------------------------------------------------------
@pytest.mark.parametrize("role,model,action", PERMISSION_CASES, ids=map(case_id, PERMISSION_CASES))
def test_permission(scratch, role, model, action):
    world = scratch
    grant = world.grant(role)
    ok = allowed(grant, model, action)
    client = world.client(role)
    denied = 302 if grant.can(model, "view") else 403
    base = f"/admin/{model}/"
    model_class = SCREEN[model][1]

    if action == "view":
        victim = world.victim(role, model)
        assert client.get(base).status_code == (200 if ok else 403)
        details = client.get(f"{base}details/?id={victim.id}")
        assert details.status_code == (200 if ok else 403)
        menu = world.text(role, "/admin/")
        assert (f'href="{base}"' in menu) == ok, "menu entry must follow the view permission"

    elif action == "create":
        page = client.get(base + "new/")
        assert page.status_code == (200 if ok else denied)
        before = _max_id(model_class)
        fields = SCREEN[model][0].form_fields
        if ok:
            assert ps.form_field_names(page.get_data(as_text=True)), "create form without fields"
            changes = {f: world.alternative(role, model, f)[0] for f in fields if grant.writable(model, f)}
            response = ps.submit_form(client, base + "new/", changes)
            assert response.status_code == 302, response_problem(response)
            assert len(new_ids(model, before)) == 1
        else:
            crafted = {f: world.alternative("admin", model, f)[0] for f in fields}
            response = post_with_token(client, base + "new/", {k: v for k, v in crafted.items() if v is not None})
            assert response.status_code == denied
            assert not new_ids(model, before), "a refused create must not store anything"

    elif action == "edit":
        victim = world.victim(role, model)
        url = f"{base}edit/?id={victim.id}"
        page = client.get(url)
        assert page.status_code == (200 if ok else denied)
        fields = SCREEN[model][0].form_fields
        if ok:
            probe = next(p for p in PROBES[model] if grant.writable(model, p))
            post, expected = world.alternative(role, model, probe)
            response = ps.submit_form(client, url, {probe: post})
            assert response.status_code == 302, response_problem(response)
            assert stored(model, victim.id, probe) == normal(expected)
        else:
            before = {f: stored(model, victim.id, f) for f in fields}
            crafted = {f: world.alternative("admin", model, f)[0] for f in fields}
            response = post_with_token(client, url, {k: v for k, v in crafted.items() if v is not None})
            assert response.status_code == denied
            assert {f: stored(model, victim.id, f) for f in fields} == before

    elif action == "delete":
        single, bulk = world.victim(role, model), world.victim(role, model)
        response = post_with_token(client, base + "delete/", {"id": single.id, "url": base})
        assert response.status_code == denied if not ok else 302
        assert (model_class.get_or_none(model_class.id == single.id) is None) == ok
        response = post_with_token(client, base + "action/", {"action": "delete", "rowid": [str(bulk.id)],
                                                              "url": base})
        assert response.status_code == denied if not ok else 302
        assert (model_class.get_or_none(model_class.id == bulk.id) is None) == ok

    elif action == "export":
        user = world.user(role)
        exports = AuditLog.select().where((AuditLog.username == user.username) & (AuditLog.action == "export"))
        for kind in ("csv", "xlsx"):
            before = exports.count()
            response = client.get(f"{base}export/{kind}/")
            after = exports.count()
            if ok:
                assert response.status_code == 200
                assert kind in response.mimetype or "spreadsheet" in response.mimetype
                table = ps.csv_table(response) if kind == "csv" else ps.xlsx_table(response)
                assert table[0], "export without a header row"
                assert after == before + 1, "every export is audited"
            else:
                assert response.status_code == denied
                assert after == before


# --- role x model x column: what pages and exports show ---------------------------------
RELATED = {m: (lambda html, m=m: ps.related_section(html, m)) for m in RECORDS}


def check_cell(where, actual, expected):
    assert expected(actual), f"{where}: shows {actual!r}, policy says {expected!r}"


@pytest.mark.parametrize("role,model,column", COLUMN_CASES, ids=map(case_id, COLUMN_CASES))
def test_column_rule(world, role, model, column):
    grant = world.grant(role)
    view_class = SCREEN[model][0]
    level = grant.access(model, column)
    visible, clear, writable = grant.visible(model, column), grant.clear(model, column), grant.writable(model, column)
    label = label_of(model, column)
    subject = world.subjects[model]
    shows_value = column in (*view_class.list_columns, *view_class.detail_columns)
    expected = world.shown(grant, model, column) if visible and shows_value else None
    secret = None if clear else world.secret(model, column)
    checked = 0
    assert grant.can(model, "view"), f"{role} was seeded with view on {model} but the live grant disagrees"

    # list page: header, cell, sort link, filter
    if column in view_class.list_columns:
        page = world.parsed(ps.ListPage, role, world.list_url(model))
        assert (column in page.headers) == visible, f"list column {column} shown={column in page.headers}, {level=}"
        if visible:
            assert page.headers[column] == label
            assert subject.id in page.rows, "subject record missing from the list"
            check_cell("list", page.rows[subject.id][column], expected)
            assert (column in page.sortable) == (column in view_class.sortable_columns and clear)
        if secret:
            assert not leaks(secret, page.html), f"{level} value {secret!r} leaks on the list page"
        checked += 1
    for filtered, spec in view_class.filter_columns:
        if filtered == column:
            page = world.parsed(ps.ListPage, role, world.list_url(model))
            name = label_of(model, column) if isinstance(spec, str) else spec.name
            assert (name in page.filters) == clear, f"filter on {column}: offered={name in page.filters}, {level=}"
            checked += 1

    # details page, and the customer page's related tables
    if column in view_class.detail_columns:
        url = f"/admin/{model}/details/?id={subject.id}"
        html, table = world.text(role, url), world.parsed(ps.details_table, role, url)
        assert (label in table) == visible, f"details row {label} shown={label in table}, {level=}"
        if visible:
            check_cell("details", table[label], expected)
        if secret:
            assert not leaks(secret, html), f"{level} value {secret!r} leaks on the details page"
        checked += 1
    if model in RECORDS and model != "customer" and column in view_class.list_columns and column != "customer":
        if grant.can("customer", "view"):
            url = f"/admin/customer/details/?id={world.subjects['customer'].id}"
            html = world.text(role, url)
            labels, rows = world.parsed(RELATED[model], role, url)
            assert (label in labels) == visible, f"related {model} column {label} shown={label in labels}, {level=}"
            if visible:
                check_cell("related table", rows[0][labels.index(label)], expected)
            if secret:
                assert not leaks(secret, html), f"{level} value {secret!r} leaks on the customer page"
            checked += 1

    # forms: a field only where the column is editable; read-only and masked values shown fixed
    if allowed(grant, model, "edit"):
        url = f"/admin/{model}/edit/?id={subject.id}"
        html, names = world.text(role, url), world.parsed(ps.form_field_names, role, url)
        if column in view_class.form_fields:
            assert (column in names) == writable, f"edit field {column} present={column in names}, {level=}"
        else:
            assert column not in names
        fixed = world.parsed(ps.fixed_values, role, url)
        if column in view_class.detail_columns and not writable:
            assert (label in fixed) == visible, f"fixed value {label} shown={label in fixed}, {level=}"
            if visible:
                check_cell("edit page", fixed[label], expected)
        if secret:
            assert not leaks(secret, html), f"{level} value {secret!r} leaks on the edit page"
        checked += 1
    if allowed(grant, model, "create") and column in view_class.form_fields:
        names = world.parsed(ps.form_field_names, role, f"/admin/{model}/new/")
        assert (column in names) == writable, f"create field {column} present={column in names}, {level=}"
        checked += 1

    # exports: hidden absent, masked masked
    if allowed(grant, model, "export") and column in view_class.detail_columns:
        key_label = label_of(model, EXPORT_KEY[model])
        key_value = world.shown(grant, model, EXPORT_KEY[model])
        for kind in ("csv", "xlsx"):
            url = f"/admin/{model}/export/{kind}/"
            assert world.page(role, url).status_code == 200
            header, rows = world.parsed(ps.csv_table if kind == "csv" else ps.xlsx_table, role, url)
            assert (label in header) == visible, f"{kind} column {label} present={label in header}, {level=}"
            if visible:
                matching = [r for r in rows if key_value(r[header.index(key_label)])]
                assert len(matching) == 1, f"subject row not found once in the {kind} export"
                check_cell(kind, matching[0][header.index(label)], expected)
            if secret:
                assert not any(leaks(secret, cell) for row in [header] + rows for cell in row), \
                    f"{level} value {secret!r} leaks in the {kind} export"
        checked += 1
    assert checked, "no page shows this column: the case checks nothing"


# --- role x model x column: what POSTs change -------------------------------------------
@pytest.mark.parametrize("role,model,column", WRITE_CASES, ids=map(case_id, WRITE_CASES))
def test_column_write(scratch, role, model, column):
    """Edit and create forms store a column only where it is editable; a crafted value is ignored otherwise."""
    world = scratch
    grant = world.grant(role)
    client = world.client(role)
    writable = grant.writable(model, column)
    base = f"/admin/{model}/"
    did = 0

    if allowed(grant, model, "edit"):
        victim = world.victim(role, model)
        url = f"{base}edit/?id={victim.id}"
        before = stored(model, victim.id, column)
        post, expected = world.alternative(role, model, column)
        assert normal(expected) != before, "the new value must differ from the old one"
        changes = {column: post}
        probe = next((p for p in PROBES[model] if p != column and grant.writable(model, p)), None)
        if probe:
            probe_post, probe_expected = world.alternative(role, model, probe)
            changes[probe] = probe_post
        changes.update(COMPANIONS.get((model, column), {}))
        changes.update(CONFIRMATIONS.get(model, {}))
        response = ps.submit_form(client, url, changes)  # a None value unticks a checkbox
        assert response.status_code == 302, response_problem(response)
        if probe:
            assert stored(model, victim.id, probe) == normal(probe_expected), "the save did not go through"
        after = stored(model, victim.id, column)
        if writable:
            assert after == normal(expected), f"editable {column} was not stored"
        else:
            assert after == before, f"{grant.access(model, column)} {column} changed by a crafted POST"
        did += 1

    if allowed(grant, model, "create"):
        model_class = SCREEN[model][1]
        mark = _max_id(model_class)
        fields = SCREEN[model][0].form_fields
        values = {f: world.alternative(role, model, f) for f in fields if grant.writable(model, f) and f != column}
        post, expected = world.alternative(role, model, column)
        changes = {f: v[0] for f, v in values.items()}
        changes[column] = post
        changes.update(COMPANIONS.get((model, column), {}))
        changes.update(CONFIRMATIONS.get(model, {}))
        response = ps.submit_form(client, base + "new/", changes)
        assert response.status_code == 302, response_problem(response)
        created = new_ids(model, mark)
        assert len(created) == 1, response_problem(response)
        value = stored(model, created.pop(), column)
        if writable:
            assert value == normal(expected), f"editable {column} was not stored on create"
        else:
            assert value != normal(expected), f"{grant.access(model, column)} {column} set by a crafted create"
            if column == SCREEN[model][0].owner_column:
                assert value == world.user(role).id, "a new record without owner choice belongs to its creator"
        did += 1

    if not did:  # seeded with a write action the live policy withdrew: the POST changes nothing
        victim = world.victim(role, model)
        before = stored(model, victim.id, column)
        post, _expected = world.alternative("admin", model, column)
        post_with_token(client, f"{base}edit/?id={victim.id}", {column: post or ""})
        assert stored(model, victim.id, column) == before


# --- search: fragments only where clear, full values only where visible ---------------
FRAGMENT_KINDS = {"fragment", "mobile", "prefix"}  # kinds that match part of a clear value


def search_terms(kind, value, others):
    """(full term, fragment term) for a column value; the fragment occurs in no other searchable value."""
    if kind == "prefix":
        return value, value[: max(3, len(value) // 2)]
    size = min(4, len(value) - 1)  # not a prefix: starts at the second character
    windows = [value[i:i + size] for i in range(1, len(value) - size + 1)]
    fragment = next(w for w in windows if not any(w.upper() in o.upper() for o in others))
    return value, fragment


@pytest.mark.parametrize("role,model,column", SEARCH_CASES, ids=map(case_id, SEARCH_CASES))
def test_search_rule(world, role, model, column):
    grant = world.grant(role)
    kind = SCREEN[model][0].search_kinds[column]
    value = ps.plain(world.raw(model, column))
    assert value, f"subject {model} needs a value in {column}"
    others = [ps.plain(world.raw(model, c)) for c in SCREEN[model][0].search_kinds if c != column]
    full, fragment = search_terms(kind, value, others)
    subject_id = world.subjects[model].id
    client = world.client(role)

    def finds(term):
        response = client.get(f"/admin/{model}/", query_string={"search": term})
        assert response.status_code == 200
        return subject_id in ps.ListPage(response.get_data(as_text=True)).ids

    assert finds(full) == grant.visible(model, column), \
        f"full value of {grant.access(model, column)} {column} ({kind}) found={not grant.visible(model, column)}"
    expect_fragment = grant.clear(model, column) and kind in FRAGMENT_KINDS
    assert finds(fragment) == expect_fragment, \
        f"fragment {fragment!r} of {grant.access(model, column)} {column} ({kind}) found={not expect_fragment}"


# --- row scope ---------------------------------------------------------------------------
@pytest.mark.parametrize("role,model", SCOPE_CASES, ids=map(case_id, SCOPE_CASES))
def test_row_scope(scratch, role, model):
    world = scratch
    grant, user = world.grant(role), world.user(role)
    owners = owner_ids(user, grant)
    records = world.scope[model]
    reach = {owner: owners is None or (owner is not None and world.users[owner].id in owners) for owner in records}
    client = world.client(role)
    base = f"/admin/{model}/"
    assert grant.can(model, "view")

    listed = ps.ListPage(world.text(role, base)).ids
    fixture_ids = {r.id for r in records.values()}
    assert listed & fixture_ids == {r.id for o, r in records.items() if reach[o]}, f"{role} list of {model}"

    for owner, record in records.items():
        status = client.get(f"{base}details/?id={record.id}").status_code
        assert status == (200 if reach[owner] else 404), f"details of {owner}'s {model}: {status}"
        edit = client.get(f"{base}edit/?id={record.id}")
        if allowed(grant, model, "edit"):
            assert edit.status_code == (200 if reach[owner] else 404), f"edit of {owner}'s {model}"
        else:
            assert edit.status_code != 200

    if allowed(grant, model, "export"):
        key = EXPORT_KEY[model]
        header, rows = ps.csv_table(world.page(role, f"{base}export/csv/"))
        exported = {r[header.index(label_of(model, key))] for r in rows}
        for owner, record in records.items():
            value = ps.plain(getattr(record, key))
            assert (value in exported) == reach[owner], f"export of {owner}'s {model}"

    if model != "customer" and (allowed(grant, model, "create") or allowed(grant, model, "edit")):
        found = client.get(f"{base}ajax/lookup/", query_string={"name": "customer", "query": "范围客户"})
        assert found.status_code == 200
        offered = {item[0] for item in found.get_json()}
        scope_customers = {o: world.scope["customer"][o].id for o in records if o != "sales1"}
        assert offered == {cid for o, cid in scope_customers.items() if reach[o]}, "customer picker"

    # deleting outside the scope: single (404) and bulk (skipped), inside: deleted
    if allowed(grant, model, "delete") and owners is not None:
        outsider = next(o for o in SCOPE_OWNERS if o and world.users[o].id not in owners)
        inside, outside = world.victim(role, model), world.victim(role, model, owner=outsider)
        model_class = SCREEN[model][1]
        response = post_with_token(client, base + "delete/", {"id": outside.id, "url": base})
        assert response.status_code == 404
        response = post_with_token(client, base + "action/", {"action": "delete", "url": base,
                                                              "rowid": [str(outside.id), str(inside.id)]})
        assert response.status_code == 302
        assert model_class.get_or_none(model_class.id == outside.id) is not None, "out-of-scope row deleted"
        assert model_class.get_or_none(model_class.id == inside.id) is None, "in-scope row not deleted"


# --- the defaults the issue states, pinned so a wrong policy file fails -------------------
def test_issue_defaults_in_the_live_policy(world):
    admin, manager, sales, service = (world.grant(r) for r in ("admin", "manager", "sales", "service"))
    assert (admin.row_scope, manager.row_scope, sales.row_scope, service.row_scope) == ("all", "team", "own", "all")
    for grant in (manager, sales, service):
        assert grant.access("customer", "id_number") == MASKED
        assert grant.access("customer", "bank_account") == MASKED
    assert admin.clear("customer", "id_number") and admin.clear("customer", "bank_account")
    assert service.access("customer", "mobile") == MASKED
    assert service.access("order", "amount") == HIDDEN
    assert service.access("customer", "annual_revenue") == HIDDEN
    assert sales.clear("customer", "mobile") and manager.clear("customer", "mobile")
    for role in ("manager", "sales", "service"):
        assert not world.grant(role).can("role", "view") and not world.grant(role).can("user", "view")


def test_issue_defaults_service_sees_mobile_masked(world):
    customer = world.subjects["customer"]
    for url in ("/admin/customer/", f"/admin/customer/details/?id={customer.id}"):
        html = world.text("service", url)
        assert "138****5678" in html
        assert "13812345678" not in html
    assert "13812345678" in world.text("sales", "/admin/customer/")


def test_issue_defaults_only_admin_sees_id_number(world):
    url = f"/admin/customer/details/?id={world.subjects['customer'].id}"
    for role in ("manager", "sales", "service"):
        html = world.text(role, url)
        assert "110***********1234" in html and "110101199001011234" not in html, role
        assert "6222021234567890123" not in html, role
    html = world.text("admin", url)
    assert "110101199001011234" in html and "6222021234567890123" in html
    header, rows = ps.csv_table(world.page("manager", "/admin/customer/export/csv/"))
    cells = [c for r in rows for c in r]
    assert "110***********1234" in cells and "110101199001011234" not in cells


def test_issue_defaults_service_has_no_amount_or_revenue(world):
    orders = ps.ListPage(world.text("service", "/admin/order/"))
    assert "amount" not in orders.headers and "金额" not in orders.headers.values()
    assert "7,654.32" not in orders.html
    assert "¥7,654.32" in world.text("sales", "/admin/order/")
    customer_url = f"/admin/customer/details/?id={world.subjects['customer'].id}"
    html = world.text("service", customer_url)
    assert "年营收" not in ps.details_table(html) and "98,765,432.17" not in html
    assert "7,654.32" not in html and "金额" not in (ps.related_section(html, "order") or [[]])[0]
    assert "¥98,765,432.17" in world.text("sales", customer_url)


def test_matrix_is_generated_from_the_whole_policy():
    """Guards the generator itself: every role, model, action and declared column is covered."""
    assert {r for r, _, _ in PERMISSION_CASES} == set(ROLES) == set(ROLE_USERS)
    assert {m for _, m, _ in PERMISSION_CASES} == set(ALL_MODELS) == set(SCREEN)
    assert {a for _, _, a in PERMISSION_CASES} == set(ACTIONS)
    for model in ALL_MODELS:
        labels = [label_of(model, c) for c in SCREEN[model][0].detail_columns]
        assert len(labels) == len(set(labels)), f"{model} has two columns with one label"
    assert {(m, c) for _, m, c in COLUMN_CASES} >= {(m, c) for m in RECORDS for c in columns_of(m)}


def test_issue_defaults_for_report_subscriptions(world):
    """Admins do everything; managers all but export; reps view, create and edit (their own); service nothing."""
    expected = {"admin": {"view", "create", "edit", "delete", "export"}, "manager": {"view", "create", "edit", "delete"},
                "sales": {"view", "create", "edit"}, "service": set()}
    for role, actions in expected.items():
        grant = world.grant(role)
        assert {a for a in ACTIONS if grant.can("subscription", a)} == actions, role
