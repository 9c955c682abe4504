"""Merge of duplicate customers into one survivor, and its undo.  No Flask: the 重复客户 screen and the
command line call the same two functions.

    record = merge(survivor_id, [other_id, ...], picks={"mobile": other_id}, username="manager")
    undo(record.id, username="manager")

merge():
- the survivor keeps its code and status; for each field of `picks` (field -> customer id) it takes that
  customer's value; fields not picked keep the survivor's value, or the first other customer's when the
  survivor's is empty (a blank is filled, never a value replaced unasked);
- follow-ups, orders, feedback and status history move to the survivor; tags move too, except a tag the
  survivor already has (that tag row is kept in the merge record, not duplicated);
- follow-up tasks move too, at most one open per customer and rule: of two open tasks of one rule (or two open
  plans) the earlier due stays open and the other closes as a duplicate (reminders.merging);
- values that lost (a second landline, another address) are never dropped silently: they are written into
  the survivor's 备注 (notes) with the code they came from (ID and bank card numbers excepted: they stay,
  encrypted, in the merge record only);
- the merged-away customers are deleted, so every list, search, export and report leaves them out without
  a filter; a MergeRecord keeps their full rows (encrypted columns still encrypted), the survivor's values
  before the merge and the ids of every moved row;
- one transaction; an AuditLog row "merge" with the codes and the picks (codes, never values).

undo() puts everything back as it was: the merged-away customers with their ids and codes, every moved
row to its customer, the tag rows the survivor already had, the survivor's values before the merge
(AuditLog "merge-undo").  It refuses when a code was given to a new customer meanwhile or the survivor is gone.
"""
import datetime
import decimal
import json

from models import AuditLog, Customer, CustomerTag, Feedback, FollowUp, MergeRecord, Order, StatusChange, db, sealed
from reminders import merging as reminders_merging

# Fields a merge picks field by field (code and status stay the survivor's: status has its own history).
PICKABLE = ("name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region", "source", "address",
            "employees", "annual_revenue", "needs", "first_contact", "owner", "id_number", "bank_account", "notes")
SENSITIVE = Customer.SEALED
CHILDREN = {"followup": FollowUp, "order": Order, "feedback": Feedback, "statuschange": StatusChange,
            "customertag": CustomerTag}
LABELS = {"name": "客户名称", "customer_type": "客户类型", "contact": "联系人", "mobile": "手机号码", "phone": "电话",
          "email": "邮箱", "industry": "所属行业", "region": "所属地区", "source": "客户来源", "address": "地址",
          "employees": "员工人数", "annual_revenue": "年营收", "needs": "客户需求", "first_contact": "首次接触时间",
          "owner": "负责人", "id_number": "身份证号", "bank_account": "银行卡号", "notes": "备注"}


class MergeError(ValueError):
    """A merge or undo that cannot be done; the message says why (Chinese)."""


def _empty(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _value(customer, field):
    return customer.__data__.get(field)


def _json_value(field, value):
    if value is None:
        return None
    if field in SENSITIVE:
        return sealed.seal(str(value))  # the merge record holds ciphertext, like the table
    if isinstance(value, (datetime.date, datetime.datetime, decimal.Decimal)):
        return str(value)
    return value


def _stored_value(field, value):
    if value is None:
        return None
    if field in SENSITIVE:
        return sealed.unseal(value)
    return value


def snapshot(customer):
    """Every column of `customer` as JSON values (sealed columns sealed, digests left to recompute)."""
    return {f.name: _json_value(f.name, _value(customer, f.name)) for f in Customer._meta.sorted_fields
            if not f.name.endswith("_digest")}


def _restore_values(row):
    values = {name: _stored_value(name, value) for name, value in row.items()}
    for name in SENSITIVE:
        values[name + "_digest"] = sealed.digest(values[name]) if values.get(name) else None
    return values


def load(ids, owner_ids=None):
    """The customers `ids` in that order; MergeError if one is missing or outside `owner_ids`."""
    found = {c.id: c for c in Customer.select().where(Customer.id.in_(list(ids)))}
    for customer_id in ids:
        customer = found.get(customer_id)
        if customer is None or (owner_ids is not None and customer.owner_id not in owner_ids):
            raise MergeError("客户不存在或不在您的数据范围内")
    return [found[i] for i in ids]


def conflicts(customers):
    """{field: [(customer id, value)]} of the fields where the customers hold different non-empty values."""
    found = {}
    for field in PICKABLE:
        values = [(c.id, _value(c, field)) for c in customers if not _empty(_value(c, field))]
        if len({str(v) for _, v in values}) > 1:
            found[field] = values
    return found


def default_picks(customers):
    """{field: customer id}: the survivor's (first) value, or the first non-empty one."""
    picks = {}
    for field in PICKABLE:
        holder = next((c for c in customers if not _empty(_value(c, field))), customers[0])
        picks[field] = holder.id
    return picks


def _lost_values(survivor, customers, picks):
    """Lines for the survivor's notes: values that were not kept, with the code they came from."""
    by_id = {c.id: c for c in customers}
    lines = []
    for field in PICKABLE:
        if field in SENSITIVE or field == "notes":
            continue
        kept = _value(by_id[picks[field]], field)
        for customer in customers:
            value = _value(customer, field)
            if not _empty(value) and str(value) != str(kept):
                lines.append(f"{customer.code} 的{LABELS[field]}：{value}")
    for customer in customers:
        note = _value(customer, "notes")
        if customer.id != picks["notes"] and not _empty(note) and note != _value(by_id[picks["notes"]], "notes"):
            lines.append(f"{customer.code} 的备注：{note}")
    return lines


def merge(survivor_id, other_ids, picks=None, username=None, owner_ids=None, ip=None, now=None):
    """Merge customers `other_ids` into `survivor_id`; returns the MergeRecord (see the module docstring)."""
    other_ids = [i for i in dict.fromkeys(other_ids) if i != survivor_id]
    if not other_ids:
        raise MergeError("请至少选择两个客户进行合并")
    with db.atomic():
        customers = load([survivor_id] + other_ids, owner_ids)
        survivor, others = customers[0], customers[1:]
        chosen = default_picks(customers)
        for field, holder in (picks or {}).items():
            if field not in PICKABLE:
                raise MergeError(f"不能选择的字段：{field}")
            if holder not in {c.id for c in customers}:
                raise MergeError(f"{LABELS[field]}只能取自参与合并的客户")
            chosen[field] = holder
        by_id = {c.id: c for c in customers}
        before = snapshot(survivor)
        merged_rows = [snapshot(c) for c in others]
        lost = _lost_values(survivor, customers, chosen)

        for field in PICKABLE:
            setattr(survivor, field, getattr(by_id[chosen[field]], field))
        if lost:
            stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d")
            note = f"【{stamp} 合并，未采用的值】" + "；".join(lost)
            survivor.notes = note if _empty(survivor.notes) else f"{survivor.notes}\n{note}"

        moved, dropped = {}, []
        for key, model in CHILDREN.items():
            rows = list(model.select().where(model.customer.in_(other_ids)).order_by(model.id))
            if key == "customertag":
                has = {t.tag_id for t in CustomerTag.select(CustomerTag.tag).where(CustomerTag.customer == survivor_id)}
                keep = []
                for row in rows:
                    if row.tag_id in has:
                        dropped.append({"id": row.id, "customer": row.customer_id, "tag": row.tag_id,
                                        "source": row.source, "created_at": str(row.created_at)})
                    else:
                        has.add(row.tag_id)
                        keep.append(row)
                if dropped:
                    CustomerTag.delete().where(CustomerTag.id.in_([d["id"] for d in dropped])).execute()
                rows = keep
            moved[key] = {}
            for row in rows:
                moved[key].setdefault(str(row.customer_id), []).append(row.id)
            if rows:
                model.update(customer=survivor_id).where(model.id.in_([r.id for r in rows])).execute()

        # follow-up tasks move too (the delete below would cascade them), one open per customer and rule kept
        tasks = reminders_merging.carry_over(survivor_id, other_ids, survivor.owner_id, now)
        Customer.delete().where(Customer.id.in_(other_ids)).execute()
        survivor.save()
        codes = [c.code for c in others]
        record = MergeRecord.create(
            survivor_id=survivor_id, survivor_code=survivor.code, merged_codes=",".join(codes), username=username,
            data=json.dumps({"survivor_before": before, "merged": merged_rows, "moved": moved,
                             "dropped_tags": dropped, "picks": chosen, "tasks": tasks}, ensure_ascii=False),
            **({"created_at": now} if now else {}),
        )
        AuditLog.create(username=username, action="merge", model="customer", record_id=str(survivor_id), ip=ip,
                        changes=json.dumps({"merge": record.id, "survivor": survivor.code, "merged": codes,
                                            "picks": {f: by_id[h].code for f, h in chosen.items()},
                                            "moved": {k: sum(len(v) for v in rows.values()) for k, rows in moved.items()},
                                            "tags_already_on_survivor": len(dropped), "tasks_moved": tasks["moved"],
                                            "tasks_closed_as_duplicates": len(tasks["duplicates"])},
                                           ensure_ascii=False))
    recheck([survivor_id])
    return record


def recheck(customer_ids):
    """Status transitions, then tag rules, for the customers a merge or its undo changed, once it has committed
    (as after an import): the survivor's orders, follow-ups and statuses are now the merged ones, and the
    rule tags that moved with them must be earned again (the merged customers' rule episodes went with them).
    Never raises: the merge stands, and the daily sweeps repair what a failed check missed."""
    import pipeline
    import tagrules

    pipeline.after_change(customer_ids)
    tagrules.after_change(customer_ids)


def undo(merge_id, username=None, owner_ids=None, ip=None, now=None):
    """Put back everything merge `merge_id` changed; returns the MergeRecord, now marked undone."""
    with db.atomic():
        record = MergeRecord.get_or_none(MergeRecord.id == merge_id)
        if record is None:
            raise MergeError(f"合并记录 {merge_id} 不存在")
        if record.undone:
            raise MergeError(f"合并记录 {merge_id} 已撤销")
        data = json.loads(record.data)
        survivor = Customer.get_or_none(Customer.id == record.survivor_id)
        if survivor is None:
            raise MergeError(f"保留的客户 {record.survivor_code} 已不存在，无法撤销")
        rows = data["merged"]
        if owner_ids is not None and any(r.get("owner") not in owner_ids for r in rows + [data["survivor_before"]]):
            raise MergeError("客户不存在或不在您的数据范围内")
        taken = [c.code for c in Customer.select(Customer.code).where(Customer.code.in_([r["code"] for r in rows]))]
        if taken:
            raise MergeError(f"客户编号 {'、'.join(taken)} 已被其他客户使用，无法撤销")
        for row in rows:
            Customer.insert(_restore_values(row)).execute()
        for key, by_customer in data["moved"].items():
            model = CHILDREN[key]
            for customer_id, ids in by_customer.items():
                model.update(customer=int(customer_id)).where(model.id.in_(ids)).execute()
        reminders_merging.put_back(data.get("tasks"))
        for tag in data["dropped_tags"]:
            CustomerTag.insert(id=tag["id"], customer=tag["customer"], tag=tag["tag"], source=tag["source"],
                               created_at=tag["created_at"]).execute()
        before = _restore_values({k: v for k, v in data["survivor_before"].items() if k not in ("id", "code")})
        Customer.update(before).where(Customer.id == record.survivor_id).execute()
        record.undone_at = now or datetime.datetime.now()
        record.undone_by = username
        record.save()
        AuditLog.create(username=username, action="merge-undo", model="customer", record_id=str(record.survivor_id),
                        ip=ip, changes=json.dumps({"merge": record.id, "survivor": record.survivor_code,
                                                   "restored": record.merged_codes.split(",")}, ensure_ascii=False))
    recheck([record.survivor_id] + [row["id"] for row in rows])
    return record
