"""The 标签规则 screen: list, create with checks, preview (counts, past day, gained/lost, row scope), enable,
disable, delete, CSRF and the policy (admins edit, managers preview their team's customers, reps see nothing)."""
import datetime
import json

import pytest

from models import AuditLog, CustomerTag, Order, Tag, TagRule

RECENT = {"all": [{"metric": "order_count", "days": 30, "op": ">=", "value": 1}]}


@pytest.fixture
def data(app, make_customer):
    tag = Tag.create(name="近30天下单", category="行为", source="rule")
    Tag.create(name="价格敏感", category="偏好", source="manual")
    now = datetime.datetime.now()
    mine = make_customer(owner="sales1", name="近期甲")
    Order.create(customer=mine, order_no="SO-A1", ordered_at=now - datetime.timedelta(days=2), amount=10)
    old = make_customer(owner="sales1", name="较早乙")
    Order.create(customer=old, order_no="SO-A2", ordered_at=now - datetime.timedelta(days=45), amount=10)
    theirs = make_customer(owner="sales3", name="别组丙")
    Order.create(customer=theirs, order_no="SO-A3", ordered_at=now - datetime.timedelta(days=2), amount=10)
    return {"tag": tag, "mine": mine, "old": old, "theirs": theirs}


def form(**changes):
    values = {"name": "近期下单", "tag": "近30天下单", "condition": json.dumps(RECENT), "enabled": "1",
              "description": "", "past": (datetime.date.today() - datetime.timedelta(days=30)).isoformat()}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_preview_before_saving_writes_nothing(login, data):
    client = login("admin")
    page = client.submit("/admin/tagrule/preview/", form(), form_url="/admin/tagrule/new/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="preview-now-count">2<' in body and 'id="preview-past-count">1<' in body
    assert 'id="preview-gained-count">+2<' in body and 'id="preview-lost-count">−1<' in body
    assert body.index("较早乙") > body.index('id="preview-lost"')  # lost: ordered 45 days ago
    assert "近期甲" in body and "别组丙" in body
    assert TagRule.select().count() == 0 and CustomerTag.select().count() == 0


@pytest.mark.parametrize("changes, message", [
    ({"condition": '{"metric": "magic", "op": ">=", "value": 1}'}, "未知的指标“magic”"),
    ({"condition": '{"all": [}'}, "不是合法的 JSON"),
    ({"condition": '{"metric": "region", "op": ">=", "value": "华北"}'}, "不能使用运算符"),
    ({"condition": '{"metric": "order_count", "days": -3, "op": ">=", "value": 1}'}, "天数 N 必须是 1 到 3650"),
    ({"tag": "价格敏感"}, "是手动标签"),
    ({"name": ""}, "请填写规则名称"),
])
def test_bad_input_is_refused_with_a_message(login, data, changes, message):
    client = login("admin")
    page = client.submit("/admin/tagrule/new/", form(**changes))
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    assert TagRule.select().count() == 0 and not AuditLog.select().where(AuditLog.model == "tagrule").exists()


def test_future_past_date_is_refused(login, data):
    client = login("admin")
    future = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    page = client.submit("/admin/tagrule/preview/", form(past=future), form_url="/admin/tagrule/new/")
    assert page.status_code == 400 and "晚于今天" in page.get_data(as_text=True)


def test_create_enable_disable_delete_audited(login, data):
    client = login("admin")
    response = client.submit("/admin/tagrule/new/", form())
    assert response.status_code == 302
    rule = TagRule.get()
    carriers = {ct.customer_id for ct in CustomerTag.select().where(CustomerTag.tag == data["tag"].id)}
    assert carriers == {data["mine"].id, data["theirs"].id}
    page = client.get("/admin/tagrule/").get_data(as_text=True)
    assert "近30天订单数 ≥ 1笔" in page and "启用中" in page
    response = client.submit("/admin/tagrule/toggle/", {"rule_id": rule.id, "enabled": "0"}, form_url="/admin/tagrule/")
    assert response.status_code == 302 and not CustomerTag.select().exists()
    client.submit("/admin/tagrule/toggle/", {"rule_id": rule.id, "enabled": "1"}, form_url="/admin/tagrule/")
    assert CustomerTag.select().count() == 2
    client.submit("/admin/tagrule/delete/", {"rule_id": rule.id}, form_url="/admin/tagrule/")
    assert not TagRule.select().exists() and not CustomerTag.select().exists()
    actions = [a.action for a in AuditLog.select().where(AuditLog.model == "tagrule").order_by(AuditLog.id)]
    assert actions[0] == "create" and {"disable", "enable", "delete", "rule-apply"} <= set(actions)


def test_csrf_is_required(login, data):
    client = login("admin")
    response = client.post("/admin/tagrule/new/", data=form())
    assert response.status_code == 400 and "表单已过期" in response.get_data(as_text=True)
    assert not TagRule.select().exists()


def test_policy_manager_previews_the_team_rep_sees_nothing(login, data):
    TagRule.create(name="近期下单", tag=data["tag"], condition=json.dumps(RECENT), enabled=False)
    rule = TagRule.get()
    manager = login("manager")
    page = manager.get(f"/admin/tagrule/preview/?id={rule.id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "近期甲" in body and "别组丙" not in body
    assert 'id="preview-now-count">1<' in body
    assert "tag-rule-save" not in body and "/admin/tagrule/new/" not in manager.get("/admin/tagrule/").get_data(as_text=True)
    assert manager.submit("/admin/tagrule/toggle/", {"rule_id": rule.id, "enabled": "1"},
                          form_url=f"/admin/tagrule/preview/?id={rule.id}").status_code == 403
    assert manager.get("/admin/tagrule/new/").status_code == 403
    assert login("sales").get("/admin/tagrule/").status_code == 403
    assert login("service").get("/admin/tagrule/").status_code == 403
    assert not TagRule.get().enabled


def test_the_record_of_a_rule_in_scope(login, data):
    rule = TagRule.create(name="近期下单", tag=data["tag"], condition=json.dumps(RECENT), enabled=True)
    import tagrules

    tagrules.sweep()
    admin = login("admin").get(f"/admin/tagrule/episodes/?id={rule.id}").get_data(as_text=True)
    assert "近期甲" in admin and "别组丙" in admin and "每日检查" in admin and "仍持有" in admin
    manager = login("manager").get(f"/admin/tagrule/episodes/?id={rule.id}").get_data(as_text=True)
    assert "近期甲" in manager and "别组丙" not in manager
    assert login("manager").get("/admin/tagrule/episodes/?id=999").status_code == 404
