"""Import the CDNOW transaction sample (Fader, Hardie & Lee) as customers and orders.

The file holds one purchase per line: customer id, sample id, YYYYMMDD, quantity, amount,
whitespace separated.  It is the data the published BG/NBD and Gamma-Gamma estimates were
fitted to, so loading it through the product lets the analysis be checked against the paper.

Every line is checked before anything is written and the whole load is one transaction:
a file with one bad line leaves the database as it was, and the error lists every bad line.
"""
import datetime
import os
import sys
from decimal import Decimal, InvalidOperation

from models import Customer, Order, db

CHUNK = 500  # rows per INSERT; well under SQLite's bound-variable limit for these columns
CHANNEL = "CDNOW"
CODE_PREFIX = "CD-NW"
MAX_REPORTED = 20  # a wholly wrong file should not produce a 7,000-line message


class CdnowFormatError(ValueError):
    """The file has lines that cannot be imported; `errors` is [(line_no, reason), ...]."""

    def __init__(self, path, errors):
        self.path = path
        self.errors = errors
        shown = "; ".join(f"第 {line} 行: {reason}" for line, reason in errors[:MAX_REPORTED])
        more = f"; 另有 {len(errors) - MAX_REPORTED} 行错误" if len(errors) > MAX_REPORTED else ""
        super().__init__(f"{path}: {len(errors)} 行无法导入，未写入任何数据 — {shown}{more}")


def default_path():
    """The sample shipped inside the lifetimes package (the 1/10 sample, 2,357 customers)."""
    try:
        from importlib.resources import files

        return str(files("lifetimes") / "datasets" / "CDNOW_sample.txt")
    except (ImportError, TypeError):  # a zipped or unusual install: fall back to the module path
        import lifetimes

        return os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_sample.txt")


def parse_line(text):
    """(customer_id, date, quantity, amount) from one line, or raise ValueError with the reason."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"应有 5 列，实际 {len(fields)} 列")
    raw_id, _sample, raw_date, raw_quantity, raw_amount = fields
    if not raw_id.isdigit():
        raise ValueError(f"客户编号不是数字: {raw_id!r}")
    try:
        day = datetime.datetime.strptime(raw_date, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"日期无法识别: {raw_date!r}") from None
    try:
        quantity = int(raw_quantity)
    except ValueError:
        raise ValueError(f"数量不是整数: {raw_quantity!r}") from None
    if quantity < 0:
        raise ValueError(f"数量为负: {quantity}")
    try:
        amount = Decimal(raw_amount)
    except InvalidOperation:
        raise ValueError(f"金额无法识别: {raw_amount!r}") from None
    if not amount.is_finite():
        raise ValueError(f"金额无法识别: {raw_amount!r}")
    if amount < 0:
        raise ValueError(f"金额为负: {raw_amount}")
    return int(raw_id), day, quantity, amount.quantize(Decimal("0.01"))


def read(path):
    """[(line_no, customer_id, date, quantity, amount)] or raise CdnowFormatError naming every bad line."""
    rows, errors = [], []
    # The shipped file has CRLF endings; universal newlines drop the CR.
    with open(path, encoding="ascii", errors="replace") as handle:
        for line_no, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                rows.append((line_no, *parse_line(text)))
            except ValueError as reason:
                errors.append((line_no, str(reason)))
    if errors:
        raise CdnowFormatError(path, errors)
    return rows


def customer_code(cdnow_id, first_day):
    return f"{CODE_PREFIX}-{first_day.year}-{cdnow_id:04d}"


def load_cdnow(path=None, owner=None, progress=False):
    """Create one Customer per CDNOW customer and one Order per line, all or nothing.

    Returns {"customers": n, "orders": m}.  Raises CdnowFormatError (nothing written) when a
    line is malformed, ValueError when these customers were imported already.
    """
    path = path or default_path()
    rows = read(path)
    first = {}
    for _line, cdnow_id, day, _quantity, _amount in rows:
        if cdnow_id not in first or day < first[cdnow_id]:
            first[cdnow_id] = day
    codes = {cdnow_id: customer_code(cdnow_id, day) for cdnow_id, day in first.items()}
    owner_id = getattr(owner, "id", owner)
    now = datetime.datetime.now()

    customers = [
        {
            "code": codes[cdnow_id],
            "name": f"CDNOW 客户 {cdnow_id:04d}",
            "customer_type": "个人",
            "status": "成交客户",
            "first_contact": day,
            "owner": owner_id,
            "created_at": now,
            "updated_at": now,
        }
        for cdnow_id, day in sorted(first.items())
    ]
    with db.atomic():
        taken = [c for chunk in chunks(list(codes.values())) for c in
                 Customer.select(Customer.code).where(Customer.code.in_(chunk)).tuples()]
        if taken:
            raise ValueError(f"{len(taken)} 个 CDNOW 客户已导入过（如 {taken[0][0]}），未写入任何数据")
        for chunk in chunks(customers):
            Customer.insert_many(chunk).execute()
        report(progress, f"客户 {len(customers)}")
        ids = {}
        for chunk in chunks(list(codes.values())):
            ids.update(Customer.select(Customer.code, Customer.id).where(Customer.code.in_(chunk)).tuples())
        orders = [
            {
                "customer": ids[codes[cdnow_id]],
                "order_no": f"CDNOW-{cdnow_id}-{line_no}",
                "ordered_at": datetime.datetime.combine(day, datetime.time()),
                "amount": amount,
                "quantity": quantity,
                "channel": CHANNEL,
            }
            for line_no, cdnow_id, day, quantity, amount in rows
        ]
        for done, chunk in enumerate(chunks(orders), 1):
            Order.insert_many(chunk).execute()
            if done % 4 == 0:
                report(progress, f"订单 {min(done * CHUNK, len(orders))}/{len(orders)}")
    report(progress, f"完成: 客户 {len(customers)}, 订单 {len(orders)}")
    return {"customers": len(customers), "orders": len(orders)}


def chunks(items, size=CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def report(progress, message):
    if progress:
        print(message, file=sys.stderr)
