"""The tagging package: batch tag and untag (set-based, row scope, manual vs rule rows, audit, bad input),
the tag conditions behind the list's filters, the usage review, retiring, and the Tag.source migration.

Dates are fixed (demo.fixed.REFERENCE_DAY), never today's."""
import datetime
import json

import pytest

import access
import models
import tagging
from access.defaults import POLICY_KEYS, ROLES
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from models import AuditLog, Customer, CustomerTag, Role, RolePermission, Tag, db

DAY = REFERENCE_NOW - datetime.timedelta(days=3)


@pytest.fixture
def tags(app):
    return {"price": Tag.create(name="价格敏感", category="偏好"),
            "visit": Tag.create(name="偏好上门拜访", category="偏好"),
            "vip": Tag.create(name="高价值", category="价值", source="rule"),
            "old": Tag.create(name="旧活动", category="行为", retired_at=DAY)}


def rows_of(tag):
    return {(ct.customer_id, ct.source) for ct in CustomerTag.select().where(CustomerTag.tag == tag.id)}


def audit_rows(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


def test_defaults_of_the_tagging_key():
    assert "tagging" in POLICY_KEYS
    expected = {"admin": {"view", "create", "edit", "delete", "export"}, "manager": {"view", "create", "delete"},
                "sales": {"view", "create", "delete"}, "service": {"view"}}
    for role, actions in expected.items():
        assert set(ROLES[role]["permissions"].get("tagging", "").split()) == actions, role
    assert "delete" in ROLES["sales"]["permissions"]["customertag"].split()  # a rep takes back their own tags
    assert ROLES["service"]["permissions"]["customertag"] == "view"


def test_tag_selected_customers_writes_manual_rows_and_audits_each(users, make_customer, tags):
    mine = [make_customer(owner="sales1") for _ in range(3)]
    outcome = tagging.tag("价格敏感", users["sales1"], ids=[str(mine[0].id), mine[1].id], ip="10.0.0.9", now=DAY)
    assert (outcome.matched, outcome.changed, outcome.unchanged) == (2, 2, 0)
    assert rows_of(tags["price"]) == {(mine[0].id, "manual"), (mine[1].id, "manual")}
    assert {ct.created_at for ct in CustomerTag.select()} == {DAY}
    per_customer = audit_rows("tag")
    assert sorted(int(a.record_id) for a in per_customer) == [mine[0].id, mine[1].id]
    assert {(a.username, a.model, a.ip) for a in per_customer} == {("sales1", "customer", "10.0.0.9")}
    assert json.loads(per_customer[0].changes) == {"tags": [None, "价格敏感"]}
    [summary] = audit_rows("batch-tag")
    assert (summary.model, summary.record_id, summary.rows) == ("customertag", str(tags["price"].id), 2)
    assert json.loads(summary.changes)["ids"] == sorted([mine[0].id, mine[1].id])
    again = tagging.tag("价格敏感", users["sales1"], ids=[mine[0].id, mine[2].id])  # one already carries it
    assert (again.changed, again.unchanged) == (1, 1)
    assert len(rows_of(tags["price"])) == 3 and len(audit_rows("tag")) == 3


def test_a_selection_reaching_outside_the_row_scope_changes_nothing(users, make_customer, tags):
    mine, theirs = make_customer(owner="sales1"), make_customer(owner="sales3")
    for ids in ([mine.id, theirs.id], [mine.id, 99999999]):
        with pytest.raises(tagging.Refused, match="1 位不存在或不在您的数据范围内"):
            tagging.tag("价格敏感", users["sales1"], ids=ids)
    assert not CustomerTag.select().exists() and not AuditLog.select().exists()
    with pytest.raises(tagging.Refused, match="所选客户编号无效"):
        tagging.tag("价格敏感", users["sales1"], ids=[str(mine.id), "1 OR 1=1"])
    with pytest.raises(tagging.Refused, match="请先勾选客户"):
        tagging.tag("价格敏感", users["sales1"], ids=[])
    with pytest.raises(tagging.Refused, match="一次最多勾选"):
        tagging.tag("价格敏感", users["admin"], ids=list(range(1, tagging.MAX_SELECTED + 2)))
    assert not CustomerTag.select().exists()


def test_every_matching_customer_is_cut_to_the_row_scope(users, make_customer, tags):
    owners = ("sales1", "sales1", "sales2", "sales3", "manager", None)
    customers = [make_customer(owner=o) for o in owners]
    everyone = Customer.select(Customer.id)  # a caller that forgot the scope
    assert tagging.tag("价格敏感", users["sales1"], matching=everyone).changed == 2
    assert {c for c, _ in rows_of(tags["price"])} == {customers[0].id, customers[1].id}
    team = tagging.tag("偏好上门拜访", users["manager"], matching=everyone)
    assert team.matched == 4 and {c for c, _ in rows_of(tags["visit"])} == {c.id for c in customers[:3]} | {
        customers[4].id}
    north = Customer.select(Customer.id).where(Customer.id.in_([customers[3].id, customers[5].id]))
    assert tagging.tag("价格敏感", users["admin"], matching=north).changed == 2  # admin: all, incl. no owner
    with pytest.raises(tagging.Refused, match="没有符合条件的客户"):
        tagging.tag("价格敏感", users["sales2"], matching=north)


def test_batches_are_set_based_whatever_the_number_of_customers(users, make_customer, tags, monkeypatch):
    """The statements a batch runs do not grow with the customers it changes (no loop per customer)."""
    statements = []
    real = db.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    def run(n, tag_name):
        group = [make_customer(owner="sales2", region=f"区{n}") for _ in range(n)]
        query = Customer.select(Customer.id).where(Customer.region == f"区{n}")
        access.grant_for(users["manager"])  # the grant is cached after its first load
        statements.clear()
        monkeypatch.setattr(db.obj, "execute_sql", counting)
        tagged = tagging.tag(tag_name, users["manager"], matching=query)
        tag_statements = len(statements)
        statements.clear()
        untagged = tagging.untag(tag_name, users["manager"], matching=query)
        monkeypatch.setattr(db.obj, "execute_sql", real)
        assert tagged.changed == untagged.changed == len(group)
        return tag_statements, len(statements)

    assert run(3, "价格敏感") == run(40, "偏好上门拜访")


def test_manual_batches_never_touch_rule_rows(users, make_customer, tags):
    by_rule, by_hand, bare = (make_customer(owner="sales1") for _ in range(3))
    # a manual tag that a rule also gave one customer (e.g. its source was changed later)
    CustomerTag.create(customer=by_rule, tag=tags["price"], source="rule", created_at=DAY)
    CustomerTag.create(customer=by_hand, tag=tags["price"], source="manual", created_at=DAY)
    scope = Customer.select(Customer.id)
    tagged = tagging.tag("价格敏感", users["sales1"], matching=scope)
    assert (tagged.changed, tagged.unchanged) == (1, 2)  # only `bare`; the rule row is not doubled
    assert rows_of(tags["price"]) == {(by_rule.id, "rule"), (by_hand.id, "manual"), (bare.id, "manual")}
    plan = tagging.untag("价格敏感", users["sales1"], matching=scope, dry_run=True)
    assert (plan.changed, plan.kept_by_rule, plan.unchanged) == (2, 1, 0)
    assert len(rows_of(tags["price"])) == 3  # a dry run writes nothing
    tagging.untag("价格敏感", users["sales1"], matching=scope)
    assert rows_of(tags["price"]) == {(by_rule.id, "rule")}
    assert sorted(int(a.record_id) for a in audit_rows("untag")) == sorted([by_hand.id, bare.id])
    assert json.loads(audit_rows("untag")[0].changes) == {"tags": ["价格敏感", None]}


@pytest.mark.parametrize("name,operation,message", [
    ("", "tag", "请选择标签"),
    ("  ", "untag", "请选择标签"),
    ("长" * 41, "tag", "标签名称过长：最多 40 个字符"),
    ("不存在的标签", "tag", "标签“不存在的标签”不存在"),
    ("高价值", "tag", "“高价值”是规则标签，由标签规则自动添加和移除，不能手动添加"),
    ("高价值", "untag", "不能手动移除"),
    ("旧活动", "tag", "标签“旧活动”已停用，不能再添加"),
])
def test_bad_tags_are_refused_with_a_message_and_change_nothing(users, make_customer, tags, name, operation, message):
    customer = make_customer(owner="sales1")
    CustomerTag.create(customer=customer, tag=tags["vip"], source="rule")
    before = rows_of(tags["vip"])
    run = tagging.tag if operation == "tag" else tagging.untag
    with pytest.raises(tagging.Refused, match=message):
        run(name, users["sales1"], ids=[customer.id])
    assert rows_of(tags["vip"]) == before and CustomerTag.select().count() == 1 and not AuditLog.select().exists()


def test_a_retired_tag_can_still_be_taken_off(users, make_customer, tags):
    customer = make_customer(owner="sales1")
    CustomerTag.create(customer=customer, tag=tags["old"], source="manual")
    assert tagging.untag("旧活动", users["sales1"], ids=[customer.id]).changed == 1
    assert not rows_of(tags["old"])


def test_the_policy_decides_who_may_tag_and_untag(app, users, make_customer, tags):
    customer = make_customer(owner="sales1")
    with pytest.raises(tagging.Refused, match="您没有批量添加客户标签的权限"):
        tagging.tag("价格敏感", users["service"], ids=[customer.id])
    with pytest.raises(tagging.Refused, match="您没有批量移除客户标签的权限"):
        tagging.untag("价格敏感", users["service"], ids=[customer.id])
    tagging.tag("价格敏感", users["sales1"], ids=[customer.id])
    # the same action on customertag is needed too: take `delete` on customertag away from sales
    sales = Role.get(Role.name == "sales")
    RolePermission.update(can_delete=False).where(
        (RolePermission.role == sales) & (RolePermission.model == "customertag")).execute()
    access.bump_version()
    with pytest.raises(tagging.Refused, match="您没有批量移除客户标签的权限"):
        tagging.untag("价格敏感", users["sales1"], ids=[customer.id])
    assert rows_of(tags["price"]) == {(customer.id, "manual")}
    # ... and the tag column of customertag must be editable
    models.ColumnRule.create(role=sales, model="customertag", column="tag", access="readonly")
    access.bump_version()
    with pytest.raises(tagging.Refused, match="您没有批量添加客户标签的权限"):
        tagging.tag("偏好上门拜访", users["sales1"], ids=[customer.id])


def test_a_count_that_moved_since_the_confirmation_refuses(users, make_customer, tags):
    customers = [make_customer(owner="sales1", region="西北") for _ in range(3)]
    query = Customer.select(Customer.id).where(Customer.region == "西北")
    plan = tagging.tag("价格敏感", users["sales1"], matching=query, dry_run=True)
    assert plan.matched == 3
    make_customer(owner="sales1", region="西北")  # someone adds a matching customer meanwhile
    with pytest.raises(tagging.Changed, match="确认时 3 位，现在 4 位"):
        tagging.tag("价格敏感", users["sales1"], matching=query, expected=plan.matched)
    assert not CustomerTag.select().exists() and not AuditLog.select().exists()
    assert tagging.tag("价格敏感", users["sales1"], matching=query, expected=4).changed == 4
    assert len(customers) == 3


def test_customers_going_over_the_limit_are_counted(users, make_customer, tags):
    crowded, roomy = make_customer(owner="sales1"), make_customer(owner="sales1")
    extra = [Tag.create(name=f"标签{n:02d}", category="行为") for n in range(tagging.LIMIT)]
    for tag in extra:
        CustomerTag.create(customer=crowded, tag=tag)
    for tag in extra[:tagging.LIMIT - 1]:
        CustomerTag.create(customer=roomy, tag=tag)
    outcome = tagging.tag("价格敏感", users["sales1"], ids=[crowded.id, roomy.id])
    assert (outcome.changed, outcome.over_limit) == (2, 1)  # crowded now has 11, roomy exactly 10
    assert tagging.crowded(users["sales1"]) == 1 and tagging.crowded(users["sales3"]) == 0


def test_conditions_any_all_none_and_more_than(app, make_customer, tags):
    a, b, c, d = (make_customer() for _ in range(4))
    for customer, names in ((a, ("price",)), (b, ("price", "visit")), (c, ("visit", "vip"))):
        for name in names:
            CustomerTag.create(customer=customer, tag=tags[name])
    ids = lambda condition: {x.id for x in Customer.select(Customer.id).where(condition)}  # noqa: E731
    price, visit, vip = tags["price"].id, tags["visit"].id, tags["vip"].id
    assert ids(tagging.any_of([price, vip])) == {a.id, b.id, c.id}
    assert ids(tagging.all_of([price, visit])) == {b.id}
    assert ids(tagging.all_of([visit, visit])) == {b.id, c.id}
    assert ids(tagging.none_of([price, vip])) == {d.id}
    assert ids(tagging.more_than(1)) == {b.id, c.id}
    assert tagging.parse_names("偏好上门拜访, 价格敏感,价格敏感") == sorted([price, visit])
    for bad in ("", " , ", "价格", "价格敏感,没有的标签", str(price), "价格敏感' OR '1'='1", "长" * 41):
        assert tagging.parse_names(bad) is None, bad


def test_usage_per_tag_in_the_row_scope(users, make_customer, tags):
    mine, team, other = make_customer(owner="sales1"), make_customer(owner="sales2"), make_customer(owner="sales3")
    long_ago = REFERENCE_NOW - datetime.timedelta(days=200)
    CustomerTag.create(customer=mine, tag=tags["price"], created_at=long_ago)
    CustomerTag.create(customer=team, tag=tags["price"], created_at=DAY)
    CustomerTag.create(customer=other, tag=tags["price"], created_at=REFERENCE_NOW - datetime.timedelta(days=1))
    CustomerTag.create(customer=mine, tag=tags["vip"], source="rule", created_at=DAY)
    usage = lambda user: {e["tag"].name: e for e in tagging.usage(user, today=REFERENCE_DAY)}  # noqa: E731
    everything = usage(None)
    price = everything["价格敏感"]
    assert (price["customers"], price["manual"], price["rule"], price["recent"]) == (3, 3, 0, 2)
    assert price["last_applied"] == REFERENCE_NOW - datetime.timedelta(days=1)
    assert (everything["高价值"]["rule"], everything["高价值"]["manual"]) == (1, 0)
    assert everything["偏好上门拜访"]["unused"] and not everything["旧活动"]["unused"]  # retired: not "to retire"
    assert everything["偏好上门拜访"]["last_applied"] is None
    manager = usage(users["manager"])["价格敏感"]  # team sales1 + sales2
    assert (manager["customers"], manager["last_applied"], manager["recent"]) == (2, DAY, 1)
    own = usage(users["sales1"])["价格敏感"]
    assert (own["customers"], own["recent"]) == (1, 0)
    assert [e["tag"].category for e in tagging.usage(None)] == ["行为", "价值", "偏好", "偏好"]  # TAG_CATEGORIES order


def test_retire_and_restore_are_audited_and_checked(users, make_customer, tags):
    customer = make_customer(owner="sales1")
    CustomerTag.create(customer=customer, tag=tags["price"])
    with pytest.raises(tagging.Refused, match="您没有停用或恢复标签的权限"):
        tagging.retire(tags["price"].id, users["manager"])
    version = access.current_version()
    retired = tagging.retire(tags["price"].id, users["admin"], ip="10.1.1.1", now=DAY)
    assert retired.retired_at == DAY and access.current_version() != version  # list filters are rebuilt
    [entry] = audit_rows("retire")
    assert (entry.username, entry.model, entry.record_id, entry.ip) == ("admin", "tag", str(tags["price"].id),
                                                                         "10.1.1.1")
    assert json.loads(entry.changes)["customers"] == 1
    assert rows_of(tags["price"]) == {(customer.id, "manual")}  # customers keep the tag
    with pytest.raises(tagging.Refused, match="已经停用"):
        tagging.retire(tags["price"].id, users["admin"])
    with pytest.raises(tagging.Refused, match="已停用，不能再添加"):
        tagging.tag("价格敏感", users["sales1"], ids=[customer.id])
    assert tagging.restore(str(tags["price"].id), users["admin"]).retired_at is None
    assert len(audit_rows("restore")) == 1
    with pytest.raises(tagging.Refused, match="没有停用"):
        tagging.restore(tags["price"].id, users["admin"])
    for bad in ("abc", "999999", ""):
        with pytest.raises(tagging.Refused, match="标签不存在"):
            tagging.retire(bad, users["admin"])


def test_an_existing_database_gets_tag_source_from_its_rows(app, make_customer):
    """models.add_missing_columns on a database from before Tag.source: tags only rules applied become rule tags."""
    customer, other = make_customer(), make_customer()
    by_rule, by_hand, both, unused = (Tag.create(name=n, category="行为") for n in ("规则的", "手动的", "两者", "没人用"))
    CustomerTag.create(customer=customer, tag=by_rule, source="rule")
    CustomerTag.create(customer=customer, tag=by_hand, source="manual")
    CustomerTag.create(customer=customer, tag=both, source="rule")
    CustomerTag.create(customer=other, tag=both, source="manual")
    # ALTER TABLE in place: peewee's SQLite drop_column rebuilds the table, and dropping the old one would
    # cascade to customertag's rows
    db.execute_sql("ALTER TABLE tag DROP COLUMN source")
    assert "source" not in {c.name for c in db.get_columns("tag")}
    models.add_missing_columns()
    assert CustomerTag.select().count() == 4  # SQLite adds the column in place: no rebuild cascading into rows
    assert {t.name: t.source for t in Tag.select()} == {"规则的": "rule", "手动的": "manual", "两者": "manual",
                                                        "没人用": "manual"}


def test_an_existing_installation_gets_the_tagging_defaults(app):
    """init-db on a database from before the key: the default roles get `tagging`, their other
    permissions (the admins' by now) stay as they are."""
    from access.defaults import seed_policy

    sales = Role.get(Role.name == "sales")
    RolePermission.delete().where(RolePermission.model == "tagging").execute()
    RolePermission.update(can_delete=False).where(
        (RolePermission.role == sales) & (RolePermission.model == "customertag")).execute()
    seed_policy()
    actions = ("view", "create", "edit", "delete", "export")
    granted = {(p.role.name, p.model): {a for a in actions if getattr(p, "can_" + a)}
               for p in RolePermission.select().where(RolePermission.model.in_(("tagging", "customertag")))}
    assert granted["sales", "tagging"] == {"view", "create", "delete"}
    assert granted["service", "tagging"] == {"view"}
    assert "delete" not in granted["sales", "customertag"]


def test_an_existing_database_loses_the_indexes_that_only_cost_writes(app):
    """init-db after an upgrade drops customer_tag's index on the customer alone, tag_rule_episode's on
    removed_at and orders' (customer, ordered_at), which (customer, ordered_at, amount) replaces
    (models.RETIRED_INDEXES); lookups by customer keep an index led by the customer."""
    db.execute_sql("CREATE INDEX customer_tag_customer_id ON customer_tag (customer_id)")
    db.execute_sql("CREATE INDEX tag_rule_episode_removed_at ON tag_rule_episode (removed_at)")
    db.execute_sql("CREATE INDEX orders_customer_id_ordered_at ON orders (customer_id, ordered_at)")
    models.create_tables()
    names = {i.name for table in ("customer_tag", "tag_rule_episode", "orders") for i in db.get_indexes(table)}
    assert not names & set(models.RETIRED_INDEXES)
    assert any(i.columns == ["customer_id", "ordered_at", "amount"] for i in db.get_indexes("orders"))
    assert any(i.columns[0] == "customer_id" and i.unique for i in db.get_indexes("customer_tag"))
    assert any(i.columns[0] == "customer_id" for i in db.get_indexes("tag_rule_episode"))
    models.create_tables()  # and again: nothing left to drop, no error
