"""Merge of duplicate customers (dedup.merge): every child moves, conflicts are kept, undo restores exactly,
both are audited, and the CLI (duplicates, merge, merge-undo)."""
import datetime
import json

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

import models
import run
from dedup.merge import MergeError, conflicts, merge, undo
from models import AuditLog, Customer, CustomerTag, Feedback, FollowUp, MergeRecord, Order, StatusChange, Tag

DAY = datetime.datetime(2024, 5, 6, 10, 0)


@pytest.fixture
def pair(app, make_customer, make_order):
    """Two records of one company, each with follow-ups, orders, feedback, status history and tags."""
    keep = make_customer(name="深圳华为技术有限公司", mobile="13800000201", phone="0755-28780808",
                         address="深圳市龙岗区坂田华为基地", id_number="110101199003071234", notes="老客户")
    gone = make_customer(name="深圳華為技術有限公司", mobile="13800000202", phone="0755-28780999",
                         email="hw@huawei.com", bank_account="6222020200112233445", notes="展会名片")
    vip, big, new = (Tag.create(name=n, category="价值") for n in ("重点", "大客户", "新客户"))
    for customer in (keep, gone):
        FollowUp.create(customer=customer, at=DAY, method="电话", content=f"跟进 {customer.code}")
        make_order(customer, amount="1200.00")
        Feedback.create(customer=customer, kind="建议", content=f"反馈 {customer.code}", created_at=DAY)
        StatusChange.create(customer=customer, to_status="潜在客户", reason="新建客户", at=DAY)
        CustomerTag.create(customer=customer, tag=vip, created_at=DAY)  # both: must not become two rows
    CustomerTag.create(customer=gone, tag=big, created_at=DAY)
    CustomerTag.create(customer=keep, tag=new, created_at=DAY)
    return keep, gone


def children(customer_id):
    return {key: sorted(r.id for r in model.select().where(model.customer == customer_id))
            for key, model in (("followup", FollowUp), ("order", Order), ("feedback", Feedback),
                               ("statuschange", StatusChange), ("customertag", CustomerTag))}


def raw_row(customer_id):
    """The stored row (encrypted columns as plain values, digests as stored), without updated_at."""
    row = dict(Customer.get_by_id(customer_id).__data__)
    row.pop("updated_at")
    return row


def test_merge_moves_every_child_and_keeps_conflicts(pair):
    keep, gone = pair
    before_keep, before_gone = children(keep.id), children(gone.id)
    found = conflicts([keep, gone])
    assert {"name", "mobile", "phone", "notes"} <= set(found) and "email" not in found

    record = merge(keep.id, [gone.id], picks={"phone": gone.id}, username="manager",
                   now=datetime.datetime(2024, 6, 1, 9, 0))
    assert Customer.get_or_none(Customer.id == gone.id) is None  # gone from every list, search and report
    survivor = Customer.get_by_id(keep.id)
    assert survivor.code == keep.code and survivor.name == "深圳华为技术有限公司"
    assert survivor.phone == "0755-28780999"  # picked
    assert survivor.email == "hw@huawei.com" and survivor.bank_account == "6222020200112233445"  # blanks filled
    assert survivor.id_number == "110101199003071234" and survivor.mobile == "13800000201"
    # values that lost are in the notes with the code they came from; bank cards never are
    assert survivor.notes.startswith("老客户\n【2024-06-01 合并，未采用的值】")
    for text in (f"{gone.code} 的手机号码：13800000202", f"{keep.code} 的电话：0755-28780808",
                 f"{gone.code} 的客户名称：深圳華為技術有限公司", f"{gone.code} 的备注：展会名片"):
        assert text in survivor.notes
    assert "6222020200112233445" not in survivor.notes

    now = children(keep.id)
    for key in ("followup", "order", "feedback", "statuschange"):
        assert now[key] == sorted(before_keep[key] + before_gone[key])
    tags = [t.tag.name for t in CustomerTag.select().where(CustomerTag.customer == keep.id)]
    assert sorted(tags) == sorted(["重点", "新客户", "大客户"])  # 重点 once
    assert children(gone.id) == {k: [] for k in now}

    stored = json.loads(record.data)
    assert "6222020200112233445" not in record.data and "110101199003071234" not in record.data  # encrypted
    assert len(stored["dropped_tags"]) == 1 and stored["merged"][0]["code"] == gone.code

    entry = AuditLog.get(AuditLog.action == "merge")
    changes = json.loads(entry.changes)
    assert entry.username == "manager" and changes["survivor"] == keep.code and changes["merged"] == [gone.code]
    assert changes["picks"]["phone"] == gone.code and changes["moved"]["order"] == 1
    assert "6222020200112233445" not in entry.changes and "13800000202" not in entry.changes


def test_undo_restores_exactly(pair):
    keep, gone = pair
    rows = {keep.id: raw_row(keep.id), gone.id: raw_row(gone.id)}
    kids = {keep.id: children(keep.id), gone.id: children(gone.id)}
    tag_rows = sorted(CustomerTag.select().tuples())

    record = merge(keep.id, [gone.id], picks={"phone": gone.id, "name": gone.id}, username="admin")
    undo(record.id, username="admin")

    for customer_id in (keep.id, gone.id):
        assert raw_row(customer_id) == rows[customer_id]
        assert children(customer_id) == kids[customer_id]
    assert sorted(CustomerTag.select().tuples()) == tag_rows
    assert models.search.fragment_condition(["name"], "華為技術") is not None
    assert Customer.select().where(models.search.fragment_condition(["name"], "華為技術")).count() == 1
    assert MergeRecord.get_by_id(record.id).undone_by == "admin"
    entry = AuditLog.get(AuditLog.action == "merge-undo")
    assert json.loads(entry.changes)["restored"] == [gone.code]
    with pytest.raises(MergeError, match="已撤销"):
        undo(record.id)


def test_merge_of_three_and_refusals(app, make_customer, users):
    a, b, c = (make_customer(name=f"三方{n}有限公司", mobile="13800000301") for n in "甲乙丙")
    other = make_customer(owner="sales2", name="他人有限公司", mobile="13800000301")
    with pytest.raises(MergeError, match="数据范围"):
        merge(a.id, [other.id], owner_ids=[users["sales1"].id])
    with pytest.raises(MergeError, match="至少"):
        merge(a.id, [a.id])
    with pytest.raises(MergeError, match="只能取自"):
        merge(a.id, [b.id], picks={"name": other.id})
    with pytest.raises(MergeError, match="不能选择"):
        merge(a.id, [b.id], picks={"code": b.id})
    assert Customer.select().count() == 4  # nothing written by a refused merge
    record = merge(a.id, [b.id, c.id], owner_ids=[users["sales1"].id])
    assert record.merged_codes == f"{b.code},{c.code}" and Customer.select().count() == 2
    undo(record.id)
    assert Customer.select().count() == 4


def test_undo_refuses_when_a_code_was_reused(app, make_customer):
    a = make_customer(name="编号甲有限公司", mobile="13800000401")
    b = make_customer(name="编号乙有限公司", mobile="13800000401")
    record = merge(a.id, [b.id])
    make_customer(name="后来的客户", code=b.code, mobile="13800000402")
    with pytest.raises(MergeError, match="已被其他客户使用"):
        undo(record.id)


# --- command line -------------------------------------------------------------------------------
def test_cli_duplicates_json_merge_and_undo(app, make_customer):
    a = make_customer(owner="sales1", name="命令行甲有限公司", mobile="13800000501")
    b = make_customer(owner="sales1", name="命令行乙有限公司", mobile="13800000501")
    make_customer(owner="sales2", name="命令行丙有限公司", mobile="13800000502")
    make_customer(owner="sales2", name="命令行丁有限公司", mobile="13800000502")

    class runner:  # run.py's commands on this test's app
        @staticmethod
        def invoke(args):
            return CliRunner().invoke(run.cli, args, obj=ScriptInfo(create_app=lambda: app))

    result = runner.invoke(args=["duplicates", "--json", "--as", "sales1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"codes": [a.code, b.code], "reason": "手机号码相同", "score": 0.97}]
    everyone = json.loads(runner.invoke(args=["duplicates", "--json"]).output)
    assert len(everyone) == 2 and all(set(g) == {"codes", "reason", "score"} for g in everyone)
    text = runner.invoke(args=["duplicates"]).output
    assert "手机号码相同" in text and a.code in text and "命令行甲有限公司" in text

    result = runner.invoke(args=["merge", a.code, b.code, "--pick", f"name={b.code}", "--as", "manager"])
    assert result.exit_code == 0, result.output
    record = MergeRecord.get()
    assert Customer.get_by_id(a.id).name == "命令行乙有限公司" and record.username == "manager"
    result = runner.invoke(args=["merge-undo", str(record.id)])
    assert result.exit_code == 0, result.output
    assert Customer.get_by_id(b.id).code == b.code
    result = runner.invoke(args=["merge", a.code, "NO-SUCH-CODE"])
    assert result.exit_code != 0 and "NO-SUCH-CODE" in result.output


def test_merge_and_undo_recheck_the_tag_rules_of_the_customers_they_change(app, make_customer, make_order):
    """The order that earns 近30天下单 moves with a merge: the survivor earns the rule's tag at once (not at the
    next nightly sweep), and after the undo the order's owner has it again and the survivor no longer."""
    import tagrules
    from models import TagRuleEpisode

    tagrules.seed_rules()
    recent = Tag.get(Tag.name == "近30天下单")
    keep = make_customer(name="北京合并测试科技有限公司")
    gone = make_customer(name="北京合并测试科技公司")
    make_order(gone, amount="800.00", ordered_at=datetime.datetime.now() - datetime.timedelta(days=2))
    tagrules.after_change([keep.id, gone.id])

    def carries(customer):
        rule_tag = CustomerTag.select().where((CustomerTag.customer == customer.id) & (CustomerTag.tag == recent.id))
        opened = TagRuleEpisode.select().where((TagRuleEpisode.customer == customer.id)
                                               & TagRuleEpisode.removed_at.is_null()
                                               & (TagRuleEpisode.rule.in_(recent.rules)))
        return rule_tag.exists(), opened.exists()

    assert carries(keep) == (False, False) and carries(gone) == (True, True)
    record = merge(keep.id, [gone.id], username="admin")
    assert carries(keep) == (True, True), "the merged order earns the survivor the rule tag with its own episode"
    undo(record.id, username="admin")
    assert carries(gone) == (True, True) and carries(keep) == (False, False)
