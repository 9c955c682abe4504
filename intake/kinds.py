"""What each kind of file holds and how its rows become records: customers, follow-ups, orders, users.

KINDS is a registry (add a kind with register(kind)); the engine (intake.engine) knows no kind by
name.  A Kind declares its fields (label, synonyms, required, the models.standardise function,
managed list, policy column), its permission key, and three steps over a chunk of rows:

    check(rows, ctx)   references, the record each row updates (row.existing), the upsert key
                       (row.key), permission and row scope; rejects cells with reasons
    write(rows, ctx)   creates or updates; returns None; sets row.outcome to created / updated /
                       unchanged and records each change with ctx.record_change()
    undo(change, ...)  see intake.engine.undo (by model name, not by kind)

Empty cells never clear a stored value: an update writes only the cells the file fills.
"""
import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from peewee import fn

from credentials import generate_password
from models import Choice, Customer, FollowUp, Order, Role, StatusChange, User, db, is_sqlite, sealed, standardise
from models import search
from models import validation as rules

from . import bulk

CHUNK_IN = 500  # values per IN (...) lookup


@dataclass
class Field:
    name: str
    label: str
    clean: object  # value -> stored value, raises standardise.StandardError
    required: bool = False
    synonyms: tuple = ()
    choice: str = None  # list kind for standardise.choice (value maps apply)
    column: str = None  # the policy column (default: name)
    sensitive: bool = False  # never written to ImportChange or the audit in clear
    example: object = None
    hint: str = ""
    minimum: object = None  # numbers: the smallest allowed
    own_policy: bool = False  # the kind applies the column's policy itself (owner: forced to the importer)

    @property
    def policy_column(self):
        return self.column or self.name


def _positive_int(value):
    return standardise.integer(value)


def _name(value):
    return standardise.text(value)


def _username(value):
    cleaned = standardise.text(value)
    return cleaned


def _text(limit):
    def clean(value):
        cleaned = standardise.text(value)
        if cleaned is not None and len(cleaned) > limit:
            raise standardise.StandardError(f"过长：最多 {limit} 个字符，实际 {len(cleaned)} 个")
        return cleaned

    return clean


def _long_text(value):
    return standardise.text(value)


def _bank(value):
    cleaned = standardise.text(value)
    return "".join(cleaned.split()) if cleaned else None


def _customer_code(value):
    cleaned = standardise.code(value)
    if cleaned and len(cleaned) > 32:
        raise standardise.StandardError("客户编号过长：最多 32 个字符")
    return cleaned


def _record_no(value):
    # the column holds 20 characters: a longer one failed writing in PostgreSQL (value too long)
    cleaned = standardise.code(value)
    if cleaned and len(cleaned) > 20:
        raise standardise.StandardError(f"记录ID过长：最多 20 个字符，实际 {len(cleaned)} 个")
    return cleaned


def _new_code(value):
    cleaned = standardise.code(value)
    message = rules.check_code(cleaned)
    if message:
        raise standardise.StandardError(message)
    return cleaned


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _same(old, new):
    if isinstance(old, datetime.datetime) and isinstance(new, datetime.datetime):
        return old.replace(microsecond=0) == new.replace(microsecond=0)
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return old is not None and new is not None and Decimal(str(old)) == Decimal(str(new))
        except ArithmeticError:
            return False
    if isinstance(old, datetime.datetime) and type(new) is datetime.date:
        return old.date() == new and old.time() == datetime.time()
    return old == new


def chunks(items, size=CHUNK_IN):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def take_turns(name):
    """On PostgreSQL, number-giving writes of `name` wait for each other (as models.base.save_numbered)."""
    if not is_sqlite():
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


class Kind:
    name = ""
    label = ""
    model = None
    policy_key = ""
    fields = ()
    keys = ()  # key options a user may pick (customers: mobile, email)
    example_note = ""

    def field(self, name):
        return next(spec for spec in self.fields if spec.name == name)

    def check(self, rows, ctx):
        raise NotImplementedError

    probable_duplicates = None  # (row, ctx) -> [dedup Match] for kinds whose new records may repeat one

    def write(self, rows, ctx):
        raise NotImplementedError

    # shared helpers --------------------------------------------------------------------
    def permitted(self, row, ctx):
        """Reject a row whose action (create / edit) the importing user's grant does not allow."""
        action = "edit" if row.existing is not None else "create"
        if not ctx.can(self.policy_key, action):
            row.reject(None, f"您没有{'修改' if action == 'edit' else '新建'}{self.label}的权限")
            return False
        return True

    def diff(self, row, current, names=None):
        """{field: (old, new)} of the row's values that differ from `current` (a dict)."""
        changes = {}
        for name, new in row.values.items():
            if names is not None and name not in names:
                continue
            old = current.get(name)
            if not _same(old, new):
                changes[name] = (old, new)
        return changes


def lookup(model, key, columns, values):
    """Rows (tuples of `columns`) of `model` whose `key` column is among `values`: raw SQL, IN lists of
    CHUNK_IN (building a Peewee query of 500 parameters costs more than running it)."""
    table = model._meta.table_name
    selected = ", ".join(f'"{model._meta.fields[name].column_name}"' for name in columns)
    column = model._meta.fields[key].column_name
    out = []
    for part in chunks({v for v in values if v}):
        sql = f'SELECT {selected} FROM "{table}" WHERE "{column}" IN ({", ".join([db.param] * len(part))})'
        out.extend(db.execute_sql(sql, part).fetchall())
    return out


def users_by_name(names):
    """{username: (id, role_id)} of the existing users among `names`."""
    return {u: (i, r) for u, i, r in lookup(User, "username", ("username", "id", "role"), names)}


def customers_by_code(codes):
    return {c: (i, o) for c, i, o in lookup(Customer, "code", ("code", "id", "owner"), codes)}


def records_by(model, key, values):
    """{key value: model instance} of the stored records among `values`: one raw query for which exist,
    then whole records only for those (an import of new records loads none)."""
    present = [row[0] for row in lookup(model, key, (key,), values)]
    found = {}
    column = getattr(model, key)
    for part in chunks(present):
        for record in model.select().where(column.in_(part)):
            found.setdefault(getattr(record, key), []).append(record)
    return found


# --- customers ------------------------------------------------------------------------------

CUSTOMER_FIELDS = (
    Field("code", "客户编号", _customer_code, synonyms=("编号", "客户代码", "customer_code", "客户ID"),
          example="HB-IT-2024-001", hint="留空则按 区域-行业-年份-序号 自动生成；填写则用于匹配已有客户"),
    Field("name", "客户名称", _text(120), required=True, synonyms=("公司名称", "企业名称", "单位名称", "客户", "客户姓名", "姓名", "名称", "customer"),
          example="北京示例科技有限公司"),
    Field("customer_type", "客户类型", None, choice="customer_type", synonyms=("类型", "type"), example="企业"),
    Field("contact", "联系人", _text(60), synonyms=("联系人姓名", "contact_name"), example="张伟"),
    Field("mobile", "手机号码", standardise.mobile, synonyms=("手机", "手机号", "移动电话", "联系手机", "cellphone", "mobile_phone", "tel"),
          example="13812345678", hint="11 位手机号，可带 +86、空格或横线"),
    Field("phone", "电话", standardise.phone, synonyms=("座机", "固定电话", "联系电话", "办公电话", "telephone"),
          example="010-62345678"),
    Field("email", "邮箱", standardise.email, synonyms=("电子邮箱", "邮件", "电子邮件", "e-mail", "mail"), example="zhangwei@example.com"),
    Field("industry", "所属行业", None, choice="industry", synonyms=("行业", "industry_name"), example="互联网"),
    Field("region", "所属地区", None, choice="region", synonyms=("地区", "区域", "省份", "area"), example="华北"),
    Field("source", "客户来源", None, choice="source", synonyms=("来源", "渠道来源", "获客渠道"), example="展会"),
    Field("address", "地址", _text(255), synonyms=("详细地址", "公司地址", "联系地址"), example="北京市海淀区中关村大街 1 号"),
    Field("employees", "员工人数", _positive_int, synonyms=("企业规模", "人数", "员工数", "规模"), example=120, minimum=0,
          hint="整数，例如 120"),
    Field("annual_revenue", "年营收", standardise.amount, synonyms=("年营业额", "营业收入", "年收入", "revenue"),
          example="5,000,000.00", minimum=0, hint="金额，可带千位分隔符或 ¥"),
    Field("needs", "客户需求", _long_text, synonyms=("需求",), example="希望试用标准版"),
    Field("notes", "备注", _long_text, synonyms=("说明", "remark", "remarks", "comment"), example=""),
    Field("first_contact", "首次接触时间", standardise.date, synonyms=("首次接触", "首次联系时间", "首次接触日期", "接触时间"),
          example=datetime.date(2024, 1, 15), hint="日期，例如 2024-01-15、2024/1/15 或 2024年1月15日"),
    Field("owner", "负责人", _username, synonyms=("负责人账号", "销售", "所属销售", "owner_username"), example="sales1",
          hint="填写系统中的用户名", own_policy=True),
    Field("status", "客户状态", None, choice="status", synonyms=("状态",), example="潜在客户"),
    Field("id_number", "身份证号", standardise.code, synonyms=("身份证", "身份证号码", "证件号码"), sensitive=True, example=""),
    Field("bank_account", "银行卡号", _bank, synonyms=("银行账号", "银行卡", "账号", "卡号"), sensitive=True, example=""),
)


class Customers(Kind):
    name = "customers"
    label = "客户"
    model = Customer
    policy_key = "customer"
    fields = CUSTOMER_FIELDS
    keys = ("mobile", "email")
    STORED = [spec.name for spec in CUSTOMER_FIELDS]

    def key_field(self, ctx):
        return ctx.key  # None: only codes match

    def probable_duplicates(self, row, ctx):
        """Stored customers a new row probably duplicates (dedup.probable_duplicates), within the
        importing user's row scope: shown in the report before anything is written, never a reason
        to reject (the same company may have two contracts)."""
        from dedup import probable_duplicates

        # the profiles of the candidates are kept for the run: in a large file the same stored (or
        # rehearsed) customers are candidates of many rows
        return probable_duplicates(row.values, owner_ids=ctx.allowed, limit=3, profiles=ctx.profiles)

    def check(self, rows, ctx):
        key_name = ctx.key
        codes = {row.values.get("code") for row in rows}
        by_code = {code: found[0] for code, found in records_by(Customer, "code", codes).items()}
        by_key = {}
        if key_name:
            wanted = {row.values.get(key_name) for row in rows if not row.values.get("code")}
            by_key = records_by(Customer, key_name, wanted)
        owners = users_by_name(row.values.get("owner") for row in rows)
        for row in rows:
            values = row.values
            code = values.get("code")
            existing = None
            if code:
                row.key = ("code", code)
                existing = by_code.get(code)
                if existing is None:
                    message = rules.check_code(code)
                    if message:
                        row.reject("code", message, "新客户的编号应为 区域-行业-年份-序号；留空则自动生成")
            elif key_name:
                key_value = values.get(key_name)
                if not key_value:
                    if not row.has_error(key_name):
                        row.reject(key_name, f"按{self.field(key_name).label}匹配已有客户时，此列必填",
                                   "填写此列，或填写客户编号")
                else:
                    row.key = (key_name, key_value)
                    matches = by_key.get(key_value, [])
                    if len(matches) > 1:
                        row.reject(key_name, f"有 {len(matches)} 个客户的{self.field(key_name).label}都是 {key_value}，无法确定更新哪一个",
                                   "在文件中填写客户编号")
                    elif matches:
                        existing = matches[0]
            row.existing = existing
            if existing is not None and not ctx.in_scope(existing.owner_id):
                row.reject("code" if code else key_name, "客户不存在或不在您的数据范围内")
                continue
            if not self.permitted(row, ctx):
                continue
            # owner: by username; a role that may not write the owner column imports only for itself
            owner_name = values.get("owner")
            owner_id = None
            if owner_name:
                found = owners.get(owner_name)
                if found is None:
                    row.reject("owner", f"负责人“{owner_name}”不存在", "填写系统中的用户名")
                    continue
                owner_id = found[0]
                if not ctx.writable("customer", "owner"):
                    if ctx.user is not None and owner_id != ctx.user.id:
                        row.reject("owner", "您只能导入自己负责的客户，不能指定其他负责人", "删除此列，或填写您本人的用户名")
                        continue
                elif not ctx.in_scope(owner_id):
                    row.reject("owner", f"负责人“{owner_name}”不在您的数据范围内")
                    continue
            elif existing is None:
                owner_id = ctx.default_owner_id
            if existing is None or owner_name:
                row.owner_id = owner_id
            # cross-field rule of the form: a mobile or a landline
            mobile = values.get("mobile") or (existing.mobile if existing else None)
            phone = values.get("phone") or (existing.phone if existing else None)
            message = rules.check_contact_present(mobile, phone)
            if message and not row.has_error("mobile") and not row.has_error("phone"):
                row.reject("mobile", message, "填写手机号码或电话")

    def write(self, rows, ctx):
        now = ctx.now
        new_rows = [row for row in rows if row.existing is None]
        old_rows = [row for row in rows if row.existing is not None]
        if new_rows:
            take_turns("customer.code")
            records = []
            for row in new_rows:
                values = {name: value for name, value in row.values.items() if name != "owner"}
                record = {"customer_type": "企业", "status": "潜在客户", **values,
                          "owner": row.owner_id, "created_at": now, "updated_at": now}
                for name in Customer.SEALED:
                    record[name + "_digest"] = sealed.digest(record[name]) if record.get(name) else None
                if not record.get("code"):
                    record["code"] = ctx.next_customer_code(record.get("region"), record.get("industry"),
                                                            record.get("first_contact"))
                records.append(record)
            fields = sorted({k for record in records for k in record})
            ids = bulk.next_ids(Customer, len(records))
            with search.indexed_as_a_set(ids[0], ids[-1]):
                bulk.insert(Customer, ["id", *fields], [(i, *[record.get(k) for k in fields])
                                                        for i, record in zip(ids, records)])
            statuses = []
            sealed_names = Customer.SEALED
            for row, record, record_id in zip(new_rows, records, ids):
                row.record_id = record_id
                row.outcome = "created"
                ctx.record_created("customer", record_id, {k: v for k, v in record.items() if k not in sealed_names})
                statuses.append((record_id, None, record["status"], ctx.reason, ctx.user_id, now))
            bulk.insert(StatusChange, ["customer", "from_status", "to_status", "reason", "user", "at"], statuses)
        for row in old_rows:
            customer = row.existing
            current = {name: getattr(customer, name) for name in self.STORED if name not in Customer.SEALED}
            current["owner"] = customer.owner_id
            values = dict(row.values)
            values.pop("owner", None)
            if getattr(row, "owner_id", None) is not None:
                values["owner"] = row.owner_id
            sensitive = {name: values.pop(name) for name in Customer.SEALED if name in values}
            changes = {}
            for name, new in values.items():
                if not _same(current.get(name), new):
                    changes[name] = (current.get(name), new)
            for name, new in sensitive.items():
                if getattr(customer, name + "_digest") not in sealed.digests(new):  # any configured key (rotation)
                    changes[name] = (None, new)
                    changes[name + "_digest"] = (getattr(customer, name + "_digest"), sealed.digest(new))
            if not changes:
                row.outcome = "unchanged"
                continue
            before, after = {}, {}
            raw = None
            for name, (old, new) in changes.items():
                if name in Customer.SEALED:
                    if raw is None:
                        raw = sealed_raw(customer.id)
                    before[name] = {"sealed": raw.get(name)}
                    after[name] = "***"
                else:
                    before[name] = _plain(old)
                    after[name] = _plain(new)
            update = {name: new for name, (old, new) in changes.items()}
            update["updated_at"] = now
            Customer.update(update).where(Customer.id == customer.id).execute()
            if "status" in changes:
                StatusChange.create(customer=customer.id, from_status=changes["status"][0],
                                    to_status=changes["status"][1], reason=ctx.reason, user=ctx.user_id, at=now)
            row.record_id = customer.id
            row.outcome = "updated"
            ctx.record_change("customer", customer.id, "updated", before, after)


def customers_by_code_ids(codes):
    for part in chunks(codes):
        yield from Customer.select(Customer.code, Customer.id).where(Customer.code.in_(part)).tuples()


def sealed_raw(customer_id):
    """The stored (sealed) form of a customer's sensitive columns, never their clear value.  A raw
    cursor: a Peewee select would unseal them by column name."""
    cursor = db.execute_sql(f"SELECT id_number, bank_account FROM customer WHERE id = {db.param}", (customer_id,))
    row = cursor.fetchone()
    return dict(zip(Customer.SEALED, row or (None, None)))


# --- follow-ups -----------------------------------------------------------------------------

FOLLOWUP_FIELDS = (
    Field("record_no", "记录ID", _record_no, synonyms=("记录编号", "跟进编号", "记录号", "跟进记录ID"),
          example="20240115001", hint="留空则自动编号；填写则用于匹配已导入的记录"),
    Field("customer_code", "客户编号", standardise.code, required=True, synonyms=("customer", "客户代码", "客户ID"),
          example="HB-IT-2024-001", hint="填写系统中已有客户的编号"),
    Field("at", "跟进时间", standardise.moment, required=True, synonyms=("时间", "跟进日期", "日期", "date", "followed_at"),
          example=datetime.datetime(2024, 1, 15, 14, 30), hint="日期或日期时间，例如 2024-01-15 14:30"),
    Field("method", "跟进方式", None, required=True, choice="method", synonyms=("方式", "联系方式"), example="电话"),
    Field("content", "跟进内容", _long_text, required=True, synonyms=("内容", "沟通内容", "跟进记录", "记录"),
          example="介绍了标准版功能，客户希望下周演示"),
    Field("result", "跟进结果", None, choice="result", synonyms=("结果",), example="有意向"),
    Field("next_date", "下次跟进时间", standardise.date, synonyms=("下次跟进", "下次跟进日期", "下次联系时间", "next"),
          example=datetime.date(2024, 1, 22)),
    Field("user", "跟进人", _username, synonyms=("操作人", "跟进人账号", "销售", "username"), example="sales1",
          hint="填写系统中的用户名；留空则为导入人"),
)


class FollowUps(Kind):
    name = "followups"
    label = "跟进记录"
    model = FollowUp
    policy_key = "followup"
    fields = FOLLOWUP_FIELDS
    STORED = ("at", "method", "content", "result", "next_date", "user")

    def check(self, rows, ctx):
        customers = customers_by_code(row.values.get("customer_code") for row in rows)
        users = users_by_name(row.values.get("user") for row in rows)
        existing = {}
        for part in chunks({row.values.get("record_no") for row in rows if row.values.get("record_no")}):
            existing.update((f.record_no, f) for f in FollowUp.select().where(FollowUp.record_no.in_(part)))
        natural = {}
        ids = {customers[c][0] for c in (row.values.get("customer_code") for row in rows) if c in customers}
        moments = {row.values.get("at") for row in rows if row.values.get("at") and not row.values.get("record_no")}
        if ids and moments:
            for part in chunks(ids):
                query = FollowUp.select().where(FollowUp.customer.in_(part) & FollowUp.at.in_(list(moments)))
                for f in query:
                    natural.setdefault((f.customer_id, f.at, f.content), f)
        for row in rows:
            values = row.values
            if not resolve_customer(row, customers, ctx):
                continue
            record_no = values.get("record_no")
            if record_no:
                row.key = ("record_no", record_no)
                row.existing = existing.get(record_no)
                if row.existing is not None and row.existing.customer_id != row.customer_id:
                    if not customer_in_scope_id(row.existing.customer_id, ctx):
                        row.reject("record_no", f"记录 {record_no} 属于不在您数据范围内的客户")
                        continue
            elif values.get("at") and values.get("content"):
                row.key = ("natural", row.customer_id, values["at"], values["content"])
                row.existing = natural.get((row.customer_id, values["at"], values["content"]))
            if not self.permitted(row, ctx):
                continue
            username = values.get("user")
            if username:
                found = users.get(username)
                if found is None:
                    row.reject("user", f"跟进人“{username}”不存在", "填写系统中的用户名")
                    continue
                if not ctx.in_scope(found[0]):
                    row.reject("user", f"跟进人“{username}”不在您的数据范围内")
                    continue
                row.user_id = found[0]
            else:
                row.user_id = None if row.existing is not None else ctx.user_id

    def write(self, rows, ctx):
        new_rows = [row for row in rows if row.existing is None]
        if new_rows:
            take_turns("follow_up.record_no")
            records = []
            for row in new_rows:
                values = dict(row.values)
                values.pop("customer_code", None)
                values.pop("user", None)
                record = {"result": None, "next_date": None, **values, "customer": row.customer_id, "user": row.user_id}
                if not record.get("record_no"):
                    record["record_no"] = ctx.next_record_no(record["at"])
                records.append(record)
            fields = sorted({k for record in records for k in record})
            for part in chunks([{k: r.get(k) for k in fields} for r in records], 200):
                FollowUp.insert_many(part).execute()
            ids = {}
            for part in chunks([r["record_no"] for r in records]):
                ids.update(FollowUp.select(FollowUp.record_no, FollowUp.id).where(FollowUp.record_no.in_(part)).tuples())
            for row, record in zip(new_rows, records):
                row.record_id = ids[record["record_no"]]
                row.outcome = "created"
                ctx.record_change("followup", row.record_id, "created", None, {k: _plain(v) for k, v in record.items()})
        for row in rows:
            if row.existing is None:
                continue
            record = row.existing
            current = {name: getattr(record, name) for name in self.STORED}
            current["user"] = record.user_id
            current["customer"] = record.customer_id
            values = {k: v for k, v in row.values.items() if k not in ("customer_code", "user", "record_no")}
            values["customer"] = row.customer_id
            if row.user_id is not None:
                values["user"] = row.user_id
            changes = {k: (current.get(k), v) for k, v in values.items() if not _same(current.get(k), v)}
            update_record(FollowUp, "followup", record.id, row, changes, ctx)


def resolve_customer(row, customers, ctx):
    """Set row.customer_id from its 客户编号 ({code: (id, owner id)}); reject a code that is unknown or
    outside the importer's scope.  False when the row has no customer to go on with."""
    code = row.values.get("customer_code")
    customer = customers.get(code) if code else None
    if code and (customer is None or not ctx.in_scope(customer[1])):
        row.reject("customer_code", f"客户编号 {code} 不存在或不在您的数据范围内", "填写系统中已有客户的编号")
        return False
    if customer is None:
        return False
    row.customer_id = customer[0]
    return True


def customer_in_scope_id(customer_id, ctx):
    if ctx.allowed is None:
        return True
    owner = Customer.select(Customer.owner).where(Customer.id == customer_id).scalar()
    return ctx.in_scope(owner)


def update_record(model, model_key, record_id, row, changes, ctx):
    row.record_id = record_id
    if not changes:
        row.outcome = "unchanged"
        return
    model.update({k: new for k, (old, new) in changes.items()}).where(model.id == record_id).execute()
    row.outcome = "updated"
    ctx.record_change(model_key, record_id, "updated", {k: _plain(old) for k, (old, new) in changes.items()},
                      {k: _plain(new) for k, (old, new) in changes.items()})


# --- orders ---------------------------------------------------------------------------------

ORDER_FIELDS = (
    Field("customer_code", "客户编号", standardise.code, required=True, synonyms=("客户代码", "客户ID", "customer"),
          example="HB-IT-2024-001", hint="填写系统中已有客户的编号"),
    Field("order_no", "订单号", _text(40), required=True, synonyms=("订单编号", "单号", "订单ID", "order_id"),
          example="SO20240115001"),
    Field("ordered_at", "下单时间", standardise.moment, required=True, synonyms=("下单日期", "订单日期", "订单时间", "日期", "order_date"),
          example=datetime.datetime(2024, 1, 15, 10, 0), hint="日期或日期时间，例如 2024-01-15 或 2024/1/15 10:00"),
    Field("amount", "金额", standardise.amount, required=True, synonyms=("订单金额", "实付金额", "成交金额", "总金额", "price", "total"),
          example="1,280.00", minimum=0, hint="金额，可带千位分隔符或 ¥"),
    Field("quantity", "数量", _positive_int, synonyms=("件数", "qty"), example=1, minimum=0),
    Field("product", "产品", _text(120), synonyms=("产品名称", "商品", "商品名称"), example="标准版"),
    Field("channel", "渠道", _text(40), synonyms=("销售渠道", "下单渠道"), example="线上"),
)


class Orders(Kind):
    name = "orders"
    label = "订单"
    model = Order
    policy_key = "order"
    fields = ORDER_FIELDS
    STORED = ("ordered_at", "amount", "quantity", "product", "channel")
    NEW_ORDER = ("customer", "order_no", "ordered_at", "amount", "quantity", "product", "channel")  # columns written

    def check(self, rows, ctx):
        customers = customers_by_code(row.values.get("customer_code") for row in rows)
        existing = {no: found[0] for no, found in
                    records_by(Order, "order_no", {row.values.get("order_no") for row in rows}).items()}
        owners = {}
        ids = {o.customer_id for o in existing.values()}
        for part in chunks(ids):
            owners.update(Customer.select(Customer.id, Customer.owner).where(Customer.id.in_(part)).tuples())
        for row in rows:
            if not resolve_customer(row, customers, ctx):
                continue
            order_no = row.values.get("order_no")
            if order_no:
                row.key = ("order_no", order_no)
                row.existing = existing.get(order_no)
                if row.existing is not None and not ctx.in_scope(owners.get(row.existing.customer_id)):
                    row.reject("order_no", f"订单 {order_no} 已存在，属于不在您数据范围内的客户")
                    continue
            self.permitted(row, ctx)

    def write(self, rows, ctx):
        new_rows = [row for row in rows if row.existing is None]
        if new_rows:
            # a tuple per row in NEW_ORDER order (order_no, ordered_at and amount are required: every valid
            # row has them); the undo record is written from the stored rows, set-based
            ids = bulk.next_ids(Order, len(new_rows))
            records = []
            for record_id, row in zip(ids, new_rows):
                values = row.values
                records.append((record_id, row.customer_id, values["order_no"], values["ordered_at"], values["amount"],
                                values.get("quantity", 1), values.get("product"), values.get("channel")))
                row.record_id = record_id
                row.outcome = "created"
            bulk.insert(Order, ["id", *self.NEW_ORDER], records)
            bulk.record_created(ctx.batch_id, "order", Order, ids, self.NEW_ORDER)
        for row in rows:
            if row.existing is None:
                continue
            record = row.existing
            current = {name: getattr(record, name) for name in self.STORED}
            current["customer"] = record.customer_id
            values = {k: v for k, v in row.values.items() if k not in ("customer_code", "order_no")}
            values["customer"] = row.customer_id
            changes = {k: (current.get(k), v) for k, v in values.items() if not _same(current.get(k), v)}
            update_record(Order, "order", record.id, row, changes, ctx)


# --- users ----------------------------------------------------------------------------------

def _role(value):
    wanted = standardise.text(value)
    if wanted is None:
        return None
    for role_id, name, label in Role.select(Role.id, Role.name, Role.label).tuples():
        if wanted.casefold() in (name.casefold(), (label or "").casefold()):
            return role_id
    known = "、".join(f"{label}（{name}）" for _, name, label in Role.select(Role.id, Role.name, Role.label).tuples())
    raise standardise.StandardError(f"角色“{wanted}”不存在，可选：{known}")


USER_FIELDS = (
    Field("username", "用户名", _text(60), required=True, synonyms=("账号", "登录名", "用户账号", "login"), example="sales9"),
    Field("display_name", "姓名", _text(60), synonyms=("显示名称", "名字", "员工姓名", "name"), example="李娜"),
    Field("role", "角色", _role, synonyms=("岗位", "角色名称"), example="销售代表", hint="角色名称或标识，例如 销售代表 或 sales"),
    Field("manager", "上级经理", _username, synonyms=("上级", "经理", "主管", "直属上级"), example="manager",
          hint="填写上级的用户名"),
    Field("email", "邮箱", standardise.email, synonyms=("电子邮箱", "邮件", "e-mail", "mail"), example="lina@example.com"),
)


class Users(Kind):
    name = "users"
    label = "用户"
    model = User
    policy_key = "user"
    fields = USER_FIELDS

    def check(self, rows, ctx):
        existing = {}
        for part in chunks({row.values.get("username") for row in rows if row.values.get("username")}):
            existing.update((u.username, u) for u in User.select().where(User.username.in_(part)))
        managers = users_by_name(row.values.get("manager") for row in rows)
        earlier = set()  # accounts rows above in this chunk create (earlier chunks' are written: in `managers`)
        for row in rows:
            username = row.values.get("username")
            if not username:
                continue
            new_here = username not in earlier
            row.key = ("username", username)
            row.existing = existing.get(username)
            if not self.permitted(row, ctx):
                continue
            if row.existing is None and not row.values.get("role"):
                if not row.has_error("role"):
                    row.reject("role", "新用户必须填写角色", "角色名称或标识，例如 销售代表 或 sales")
                continue
            manager = row.values.get("manager")
            if manager:
                if manager == username:
                    row.reject("manager", "上级经理不能是本人")
                elif manager in managers:
                    row.manager_id = managers[manager][0]
                elif manager in earlier:
                    row.manager_id = None  # an account an earlier row of this file creates; resolved when written
                    row.manager_name = manager
                else:
                    row.reject("manager", f"上级经理“{manager}”不存在", "填写系统中已有的用户名，或放在本文件更靠前的行")
            if new_here and not row.errors:
                earlier.add(username)

    def write(self, rows, ctx):
        for row in rows:
            values = dict(row.values)
            manager = values.pop("manager", None)
            if manager:
                values["manager"] = getattr(row, "manager_id", None) or User.select(User.id).where(
                    User.username == manager).scalar()
            if row.existing is None:
                password = generate_password(username=values["username"])  # passes credentials' policy
                user = User(display_name=values.get("display_name") or values["username"], must_change_password=True,
                            created_at=ctx.now, **{k: v for k, v in values.items() if k != "display_name"})
                if ctx.dry_run:
                    user.password_hash = "!"  # rolled back; hashing would only cost time
                else:
                    user.set_password(password)
                    ctx.passwords.append((user.username, password))
                user.save()
                row.record_id = user.id
                row.outcome = "created"
                ctx.record_change("user", user.id, "created", None, {k: _plain(v) for k, v in values.items()})
                continue
            user = row.existing
            current = {"username": user.username, "display_name": user.display_name, "role": user.role_id,
                       "manager": user.manager_id, "email": user.email}
            changes = {k: (current.get(k), v) for k, v in values.items() if not _same(current.get(k), v)}
            update_record(User, "user", user.id, row, changes, ctx)


KINDS = {}


def register(kind):
    KINDS[kind.name] = kind
    return kind


for _kind in (Customers(), FollowUps(), Orders(), Users()):
    register(_kind)


def get(name):
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"未知的导入类型: {name}（可用: {', '.join(sorted(KINDS))}）") from None


def next_number_state():
    """Per-transaction counters for generated customer codes and follow-up record numbers."""
    return {"customer": {}, "followup": {}}


def _starting_with(column, prefix):
    """column starts with prefix, as a range the column's index answers (SQLite's LIKE cannot use it)."""
    return (column >= prefix) & (column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def highest_code_number(prefix):
    last = (Customer.select(Customer.code).where(_starting_with(Customer.code, prefix))
            .order_by(fn.LENGTH(Customer.code).desc(), Customer.code.desc()).limit(1).scalar())
    tail = last[len(prefix):] if last else ""
    return int(tail) if tail.isdigit() else 0


def highest_record_number(day):
    last = (FollowUp.select(FollowUp.record_no).where(_starting_with(FollowUp.record_no, day))
            .order_by(fn.LENGTH(FollowUp.record_no).desc(), FollowUp.record_no.desc()).limit(1).scalar())
    tail = last[len(day):] if last else ""
    return int(tail) if tail.isdigit() else 0


__all__ = ["KINDS", "Kind", "Field", "register", "get", "Choice"]
