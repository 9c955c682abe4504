"""Imports at scale: the import engine beside a bare baseline of the same file, in one run.

    .venv/bin/python -m bench.intake                                   # 1M customers, 1M orders, XLSX 200k
    .venv/bin/python -m bench.intake --customers 200000 --orders 0 --xlsx-rows 0
    .venv/bin/python -m bench.intake --orders 10000000 --write-docs    # also rewrite docs/benchmarks.md

Files are generated once into bench/data/ (same seed, same file):

- customers: a GB18030 CSV as Chinese Excel saves it, without a 客户编号 column (so rows match by
  mobile and new customers get generated codes), with what people really type: mobiles with spaces,
  dashes, +86 / 0086 and full-width digits, e-mails in capitals, list values by synonym (IT, 北京,
  展览会), dates as 2024-01-15, 2024/1/15, 2024年1月15日 and 20240115, amounts as ¥1,234.50 and 1234元;
  about 3 % invalid rows (bad mobile, impossible date, unknown industry, negative amount, bad
  e-mail, a mobile repeated from an earlier row);
- orders: a UTF-8 CSV (客户编号, 订单号, 下单时间, 金额, 数量, 产品, 渠道) over customers that are
  inserted set-based (one INSERT ... SELECT), not through the importer; about 1 % invalid rows.

Each case runs in its own process (so its peak RSS is its own, VmHWM from /proc) on a
fresh copy of an empty database made by init_db:

- **bare table**: the baseline's clean rows, made before the clock starts, written by executemany
  into a copy of the table without indexes or triggers: the issue's "about 2.8 s for 1M rows";
- **floor (writes only)**: the same rows into the real table, its indexes and its search index
  (filled by one INSERT ... SELECT, not the per-row trigger): the least time any importer of this
  file can take on this schema and machine;
- **baseline**: csv.reader, the same regular expressions (models.standardise's), a dict for the
  list synonyms, and sqlite3's executemany into the real table in one transaction (search index
  as in the floor), streamed;
- **importer**: intake.import_file(..., skip_invalid=True), everything a user gets: the access
  checks, the in-file duplicate check, the rejected-rows XLSX, the undo record, the status
  history, all in one transaction; run as the worker runs the wizard's job (the models bound as
  `run.py worker` binds them, without the web app);
- **check**: the same call with dry_run=True, the wizard's 检查 of the same file: the same writes
  rehearsed in the one transaction and rolled back, plus the probable-duplicate lookup per new
  row (dedup.probable_duplicates, against the stored and the rehearsed rows), which only the check
  makes; it "writes" what the importer would (its created + updated).

The cases must write the same number of rows, or the bench refuses to report a time.  XLSX: the
time to read every cell of a 200k-row sheet, the time to its first row and the peak memory, for each
reader in its own process, on two files of the same rows (openpyxl write-only's inline strings, and
shared strings with numbers and date cells as Excel saves them): openpyxl read-only, python-calamine
(the whole sheet parsed first), xml.etree's iterparse over the zip member, and intake.files as shipped
(zipfile + expat, streamed; the reader chosen by this comparison).  Written to docs/benchmarks.md in a
section of its own (intake-xlsx), so an XLSX-only run keeps the full-size CSV table.  With DATABASE_URL=postgresql://... the importer also runs on
PostgreSQL (COPY for the bulk inserts) on a scratch schema it creates and drops.
"""
import argparse
import csv
import datetime
import decimal
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from bench.workspace import DATA, FIELD_KEY, RESULTS, write_docs
from bench.timing import peak_rss_mb, progress

BIG = 10 ** 12  # the bench files are larger than IMPORT_MAX_BYTES

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志刚晓东海峰"
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州", "长沙", "郑州", "沈阳"]
WORDS = ["华信", "宏达", "金桥", "瑞丰", "中科", "恒通", "新世纪", "博远", "海纳", "天成", "鼎盛", "星辰", "东方", "启明", "锦程"]
TRADES = ["科技", "贸易", "实业", "信息技术", "电子商务", "物流", "餐饮管理", "医疗器械", "教育咨询", "建设工程"]
INDUSTRY_WRITTEN = ["互联网", "IT", "软件", "制造", "制造业", "零售", "商超", "金融", "银行", "教育", "培训", "医疗", "医药",
                    "物流", "快递", "房地产", "地产", "餐饮", "能源", "新能源"]
REGION_WRITTEN = ["华北", "北京", "华东", "上海", "浙江", "华南", "广东", "深圳", "华中", "湖北", "西南", "四川", "西北", "陕西",
                  "东北", "辽宁"]
SOURCE_WRITTEN = ["展会", "展览会", "转介绍", "推荐", "线上推广", "网络广告", "电话营销", "电销", "官网咨询", "官网", "合作伙伴", "代理商"]
STATUS_WRITTEN = ["潜在客户", "意向客户", "成交客户", "潜在", "意向", "成交", "流失客户"]
MOBILE_PREFIXES = ["138", "139", "137", "150", "151", "158", "186", "188", "177", "199", "135", "131"]
FULL = {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
CUSTOMER_HEADERS = ["客户名称", "联系人", "手机号码", "电话", "邮箱", "所属行业", "所属地区", "客户来源", "员工人数", "年营收",
                    "首次接触时间", "客户状态", "地址", "备注"]
ORDER_HEADERS = ["客户编号", "订单号", "下单时间", "金额", "数量", "产品", "渠道"]
PRODUCTS = ["标准版", "专业版", "企业版", "年度服务", "实施服务", "培训课程", "硬件套装"]
CHANNELS = ["线上", "线下", "代理商", "电话", "官网"]


def _mobile_digits(i):
    return MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)] + f"{(i * 7919 + 12345) % 100_000_000:08d}"


def _mobile_written(digits, rng):
    r = rng.random()
    if r < 0.55:
        return digits
    if r < 0.70:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if r < 0.80:
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if r < 0.87:
        return digits.translate(FULL)
    if r < 0.93:
        return "0086" + digits
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def _date_written(day, rng):
    r = rng.random()
    if r < 0.4:
        return day.isoformat()
    if r < 0.65:
        return f"{day.year}/{day.month}/{day.day}"
    if r < 0.9:
        return f"{day.year}年{day.month}月{day.day}日"
    return day.strftime("%Y%m%d")


def _amount_written(value, rng):
    r = rng.random()
    if r < 0.35:
        return f"¥{value:,.2f}"
    if r < 0.55:
        return f"{value:,.2f}"
    if r < 0.75:
        return f"{value:.0f}元"
    return f"{value:.2f}"


def customers_csv(rows, seed=7, path=None):
    """The customers CSV of `rows` data rows (GB18030), generated once; its path."""
    path = path or os.path.join(DATA, f"intake_customers_{rows}.csv")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    progress(f"writing {rows:,} customers to {path}")
    rng = random.Random(seed)
    start = datetime.date(2019, 1, 1)
    with open(path + ".partial", "w", encoding="gb18030", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_HEADERS)
        for i in range(rows):
            digits = _mobile_digits(i)
            day = start + datetime.timedelta(days=rng.randrange(2000))
            contact = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
            record = [
                f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司" + ("（分公司）" if rng.random() < 0.05 else ""),
                contact,
                _mobile_written(digits, rng),
                f"0{rng.randrange(10, 99)}-{rng.randrange(20000000, 89999999)}" if rng.random() < 0.3 else "",
                (f"User{i}@Example.COM " if rng.random() < 0.2 else f"user{i}@example.com") if rng.random() < 0.6 else "",
                rng.choice(INDUSTRY_WRITTEN),
                rng.choice(REGION_WRITTEN),
                rng.choice(SOURCE_WRITTEN) if rng.random() < 0.8 else "",
                f"{rng.randrange(5, 5000):,}" if rng.random() < 0.7 else "",
                _amount_written(rng.randrange(100000, 500000000) / 100, rng) if rng.random() < 0.7 else "",
                _date_written(day, rng),
                rng.choice(STATUS_WRITTEN),
                f"{rng.choice(CITIES)}市{rng.choice(WORDS)}路{rng.randrange(1, 999)}号" if rng.random() < 0.5 else "",
                "重点客户，季度回访" if rng.random() < 0.05 else "",
            ]
            bad = rng.random()
            if bad < 0.006:
                record[2] = "12345"
            elif bad < 0.012:
                record[10] = f"{day.year}-02-30"
            elif bad < 0.018:
                record[5] = "石油化工"
            elif bad < 0.024:
                record[9] = "-500"
            elif bad < 0.027:
                record[4] = "user.example.com"
            elif bad < 0.030 and i > 10:
                record[2] = _mobile_digits(rng.randrange(i))  # a mobile an earlier row has
            out.writerow(record)
    os.replace(path + ".partial", path)
    return path


def orders_csv(rows, customers, seed=8, path=None):
    """The orders CSV of `rows` rows over customers XX-XX-2024-0000001 .. `customers` (UTF-8)."""
    path = path or os.path.join(DATA, f"intake_orders_{rows}_{customers}.csv")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    progress(f"writing {rows:,} orders to {path}")
    rng = random.Random(seed)
    start = datetime.datetime(2022, 1, 1)
    with open(path + ".partial", "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(ORDER_HEADERS)
        for i in range(rows):
            at = start + datetime.timedelta(minutes=rng.randrange(1_500_000))
            record = [customer_code(rng.randrange(1, customers + 1)), f"SO{i + 1:010d}",
                      at.strftime("%Y-%m-%d %H:%M") if rng.random() < 0.7 else _date_written(at.date(), rng),
                      _amount_written(rng.randrange(1000, 10000000) / 100, rng), str(rng.randrange(1, 20)),
                      rng.choice(PRODUCTS), rng.choice(CHANNELS)]
            bad = rng.random()
            if bad < 0.004:
                record[0] = "XX-XX-2024-9999999x"  # no such customer
            elif bad < 0.007:
                record[3] = "一千元"
            elif bad < 0.010:
                record[2] = "2024-13-01"
            out.writerow(record)
    os.replace(path + ".partial", path)
    return path


def customer_code(n):
    return f"XX-XX-2024-{n:07d}"


# --- databases --------------------------------------------------------------------------------

def empty_database(customers=0):
    """A SQLite file made by init_db (plus `customers` customers inserted set-based), made once."""
    path = os.path.join(DATA, f"intake_empty_{customers}.db")
    if os.path.exists(path) and not _missing_tables(path):
        return path
    os.makedirs(DATA, exist_ok=True)
    partial = path + ".partial"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(partial + suffix):
            os.remove(partial + suffix)
    app = make_app(partial)
    with app.app_context():
        import models
        from web.setup import init_db

        init_db()
        if customers:
            progress(f"inserting {customers:,} customers set-based")
            seed_customers(models.db, customers)
        models.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        models.db.close()
        getattr(models.db.obj, "close_all", lambda: None)()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(partial + suffix):
            os.remove(partial + suffix)
    os.replace(partial, path)
    return path


def _missing_tables(path):
    """The models' tables a cached database lacks: one made before a model was added is made again (the
    importer's after-import steps read the new tables)."""
    from models import ALL_MODELS

    con = sqlite3.connect(path)
    try:
        present = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    return {model._meta.table_name for model in ALL_MODELS} - present


def seed_customers(database, count):
    """`count` customers with codes XX-XX-2024-0000001.. in one INSERT ... SELECT (not the importer)."""
    now = datetime.datetime(2024, 1, 1).isoformat(sep=" ")
    from models import is_sqlite

    if is_sqlite():
        series = (f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {int(count)}) "
                  "SELECT i FROM n")
        code = "'XX-XX-2024-' || printf('%07d', i)"
        mobile = "'139' || printf('%08d', i)"
    else:
        series = f"SELECT i FROM generate_series(1, {int(count)}) AS i"
        code = "'XX-XX-2024-' || lpad(i::text, 7, '0')"
        mobile = "'139' || lpad(i::text, 8, '0')"
    with database.atomic():
        database.execute_sql(
            "INSERT INTO customer (code, name, customer_type, mobile, status, created_at, updated_at) "
            f"SELECT {code}, '客户' || i, '企业', {mobile}, '潜在客户', '{now}', '{now}' FROM ({series}) AS s")


def copy_database(template, directory):
    path = os.path.join(directory, "crm.db")
    shutil.copyfile(template, path)
    return path


# --- the cases, each in its own process --------------------------------------------------------

def _rss_mb():
    return peak_rss_mb()


def clean_customers(path):
    """csv.reader + models.standardise's regular expressions + a dict for the list synonyms: the
    customers file's valid rows as tuples in CUSTOMER_COLUMNS order (a generator)."""
    from models import standardise as s
    from models.starter import ALIASES, LISTS

    lists = {}
    for kind, entries in LISTS.items():
        table = lists[kind] = {}
        for name, _code in entries:
            for alias in [name, _code] + ALIASES[kind][name].split(","):
                table[alias.casefold()] = name
    codes = {kind: dict(entries) for kind, entries in LISTS.items()}
    statuses = {"潜在客户": "潜在客户", "意向客户": "意向客户", "成交客户": "成交客户", "流失客户": "流失客户",
                **{k: v for k, v in s.FIXED_SYNONYMS["status"].items()}}
    full = s.FULL_WIDTH
    strip = str.maketrans("", "", " -()")
    mobile_re, email_re, date_res = s.MOBILE_RE, s.EMAIL_RE, s.DATE_PATTERNS
    now = datetime.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    seen, numbers = set(), {}
    with open(path, encoding="gb18030", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            name, contact, mobile, phone, email, industry, region, source, employees, revenue, first, status, \
                address, notes = [v.translate(full).strip() or None for v in row]
            if mobile:
                mobile = mobile.translate(strip)
                if mobile.startswith("+86"):
                    mobile = mobile[3:]
                elif mobile.startswith("0086"):
                    mobile = mobile[4:]
                if not mobile_re.match(mobile):
                    continue
            if mobile in seen:  # the importer keys every row with a good mobile, valid or not
                continue
            seen.add(mobile)
            if email:
                email = email.lower()
                if not email_re.match(email):
                    continue
            industry = lists["industry"].get(industry.casefold()) if industry else None
            region = lists["region"].get(region.casefold()) if region else None
            source = lists["source"].get(source.casefold()) if source else None
            if (row[5].strip() and industry is None) or (row[6].strip() and region is None):
                continue
            if employees:
                employees = int(employees.replace(",", ""))
            if revenue:
                for mark in s.CURRENCY_MARKS:
                    revenue = revenue.replace(mark, "")
                revenue = decimal.Decimal(revenue.replace(",", ""))
                if revenue < 0:
                    continue
                revenue = str(revenue.quantize(decimal.Decimal("0.01")))
            day = None
            for pattern in date_res:
                found = pattern.match(first)
                if found:
                    try:
                        day = datetime.date(*(int(p) for p in found.groups()[:3]))
                    except ValueError:
                        pass
                    break
            if day is None:
                continue
            prefix = f"{codes['region'][region]}-{codes['industry'][industry]}-{day.year}-"
            numbers[prefix] = numbers.get(prefix, 0) + 1
            yield (f"{prefix}{numbers[prefix]:03d}", name, contact, mobile, phone, email, industry, region, source,
                   employees, revenue, day.isoformat(), statuses.get(status, "潜在客户"), address, notes, "企业", now, now)


CUSTOMER_COLUMNS = ("code", "name", "contact", "mobile", "phone", "email", "industry", "region", "source", "employees",
                    "annual_revenue", "first_contact", "status", "address", "notes", "customer_type", "created_at",
                    "updated_at")
ORDER_COLUMNS = ("customer_id", "order_no", "ordered_at", "amount", "quantity", "product", "channel")


def write_rows(database, table, columns, rows, bare=False):
    """sqlite3 executemany of `rows` into `table` in one transaction, 5,000 rows a call; rows written.
    The customer search index (FTS5) is filled by one INSERT ... SELECT at the end instead of its
    trigger per row, the fastest way there is (the importer does the same per chunk).  bare: into a
    copy of the table without its indexes and triggers, as the issue's "about 2.8 s for 1M rows"."""
    con = sqlite3.connect(database, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("BEGIN IMMEDIATE")
    target = table
    if bare:
        target = f"bare_{table}"
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {table} WHERE 0")
    index_later = table == "customer" and not bare
    if index_later:
        trigger = con.execute("SELECT sql FROM sqlite_master WHERE name = 'customer_fts_ai'").fetchone()[0]
        con.execute("DROP TRIGGER customer_fts_ai")
        first_id = (con.execute("SELECT max(id) FROM customer").fetchone()[0] or 0) + 1
    sql = f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    written, out = 0, []
    for row in rows:
        out.append(row)
        if len(out) >= 5000:
            con.executemany(sql, out)
            written += len(out)
            out = []
    con.executemany(sql, out)
    written += len(out)
    if index_later:
        con.execute("INSERT INTO customer_fts(rowid, name, contact, mobile) "
                    "SELECT id, name, contact, mobile FROM customer WHERE id >= ?", (first_id,))
        con.execute(trigger)
    con.execute("COMMIT")
    con.close()
    return written


def baseline_customers(path, database):
    """csv.reader + the same regular expressions + executemany, streamed; rows written."""
    return write_rows(database, "customer", CUSTOMER_COLUMNS, clean_customers(path))


def clean_orders(path, database):
    """csv.reader + the same regular expressions + a dict of customer ids: the orders file's valid
    rows as tuples in ORDER_COLUMNS order (a generator)."""
    from models import standardise as s

    customers = customer_ids(database)
    moment_re, date_res = s.DATETIME_PATTERN, s.DATE_PATTERNS
    seen = set()
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for code, order_no, at, amount, quantity, product, channel in reader:
            customer = customers.get(code.strip().upper())
            if customer is None or order_no in seen:
                continue
            found = moment_re.match(at)
            try:
                if found:
                    at = datetime.datetime(*(int(p or 0) for p in found.groups()[:6]))
                else:
                    for pattern in date_res:
                        found = pattern.match(at)
                        if found:
                            at = datetime.datetime(*(int(p) for p in found.groups()[:3]))
                            break
                    else:
                        continue
            except ValueError:
                continue
            for mark in s.CURRENCY_MARKS:
                amount = amount.replace(mark, "")
            try:
                amount = decimal.Decimal(amount.replace(",", ""))
            except decimal.InvalidOperation:
                continue
            seen.add(order_no)
            yield (customer, order_no, at.isoformat(sep=" "), str(amount.quantize(decimal.Decimal("0.01"))),
                   int(quantity), product or None, channel or None)


def customer_ids(database):
    """{code: id} of the customers in `database` (a SQLite path or a postgresql:// URL)."""
    if "://" in database:
        import psycopg2

        with psycopg2.connect(database) as con, con.cursor() as cursor:
            cursor.execute("SELECT code, id FROM customer")
            return dict(cursor.fetchall())
    con = sqlite3.connect(database)
    try:
        return dict(con.execute("SELECT code, id FROM customer"))
    finally:
        con.close()


def copy_rows(url, table, columns, rows):
    """PostgreSQL's floor: the clean rows sent with COPY ... FROM STDIN (as intake/bulk.py sends
    them), 50,000 rows a call, in one transaction; rows written."""
    import io

    import psycopg2

    from intake.bulk import _copy_text

    written = 0
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        batch = []

        def send():
            buffer = io.StringIO("".join("\t".join(_copy_text(v) for v in row) + "\n" for row in batch))
            cursor.copy_expert(sql, buffer)

        for row in rows:
            batch.append(row)
            if len(batch) >= 50_000:
                send()
                written += len(batch)
                batch = []
        send()
        written += len(batch)
    return written


def baseline_orders(path, database):
    """csv.reader + the same regular expressions + a dict of customer ids + executemany; rows written."""
    return write_rows(database, "orders", ORDER_COLUMNS, clean_orders(path, database))


def make_app(database):
    """The app over `database` (a SQLite path, or a postgresql:// URL), as `run.py` makes it."""
    from web import create_app

    url = database if "://" in database else "sqlite:///" + database
    return create_app({"CRM_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench", "FIELD_KEY": FIELD_KEY})


def bind_as_worker(database):
    """The models bound to `database` as `run.py worker` binds them (jobs.worker.load_config), without
    building the app: a large import runs there, as the wizard's background job."""
    import base64

    import models
    from models import sealed

    sealed.configure(base64.b64decode(FIELD_KEY))
    models.bind(database if "://" in database else "sqlite:///" + database)


def importer(path, kind, errors_to, dry_run=False):
    """intake.import_file as a user runs it (skip-invalid); (rows written, report counts).  dry_run: the
    check of the file, which writes nothing and reports what the import would write."""
    import intake

    report = intake.import_file(path, kind, skip_invalid=True, errors_to=errors_to, max_bytes=BIG, dry_run=dry_run)
    counts = report.counts()
    if dry_run:
        counts["probable_duplicates"] = len(report.duplicates)
    return report.created + report.updated, counts


CASES = ("floor", "baseline", "importer", "check")  # "bare" too, where asked for: see compare()


def run_case(case, path, database, kind):
    """In this process: run one case; a dict with its seconds, rows written and peak RSS.  The
    interpreter and its imports are ready before the clock starts (as in a running worker).

    floor: the baseline's clean rows, made before the clock starts, only written (executemany and
    the search index, the fastest way there is): the least time any importer of this file can take
    on this schema and machine.  bare: the same into a copy of the table without indexes and
    triggers."""
    import gc

    bind_as_worker(database)
    import intake  # noqa: F401
    errors_to = os.path.join(tempfile.mkdtemp(prefix="bench-intake-"), "errors.xlsx")
    table, columns = ("customer", CUSTOMER_COLUMNS) if kind == "customers" else ("orders", ORDER_COLUMNS)
    clean_rows = None
    if case in ("floor", "bare"):
        clean_rows = list(clean_customers(path) if kind == "customers" else clean_orders(path, database))
    gc.collect()
    before = _rss_mb()
    start = time.perf_counter()
    counts = None
    if case == "floor" and "://" in database:
        written = copy_rows(database, table, columns, clean_rows)
    elif case in ("floor", "bare"):
        written = write_rows(database, table, columns, clean_rows, bare=case == "bare")
    elif case == "baseline":
        written = (baseline_customers if kind == "customers" else baseline_orders)(path, database)
    else:
        written, counts = importer(path, kind, errors_to, dry_run=case == "check")
    seconds = time.perf_counter() - start
    shutil.rmtree(os.path.dirname(errors_to), ignore_errors=True)
    return {"case": case, "kind": kind, "seconds": seconds, "written": written, "counts": counts,
            "rss_before_mb": before, "peak_rss_mb": _rss_mb(), "flask_loaded": "flask" in sys.modules}


def spawn(case, path, database, kind):
    """run_case in a fresh interpreter; its result."""
    command = [sys.executable, "-m", "bench.intake", "--case", case, "--file", path, "--database", database,
               "--kind", kind]
    done = subprocess.run(command, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    if done.returncode != 0:
        raise RuntimeError(f"{case} {kind} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(kind, path, rows, template, runs):
    """Baseline and importer in interleaved rounds on fresh copies of `template`; result rows."""
    cases = ("bare", *CASES)
    results = {case: [] for case in cases}
    for round_no in range(runs):
        for case in cases:
            with tempfile.TemporaryDirectory(dir=DATA) as scratch:
                database = copy_database(template, scratch)
                progress(f"{kind}: {case}, round {round_no + 1}/{runs}, {rows:,} rows")
                results[case].append(spawn(case, path, database, kind))
    written = {case: {r["written"] for r in items} for case, items in results.items()}
    if len({frozenset(w) for w in written.values()}) != 1:
        raise RuntimeError(f"{kind}: the cases wrote different numbers of rows {written}: they must agree "
                           "before their times mean anything")
    out = []
    for case, items in results.items():
        seconds = sorted(r["seconds"] for r in items)[len(items) // 2]
        out.append({"kind": kind, "case": case, "database": "SQLite", "rows": rows, "written": items[0]["written"],
                    "seconds": seconds, "rows_per_s": rows / seconds,
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in items),
                    "rss_before_mb": min(r["rss_before_mb"] for r in items), "counts": items[0]["counts"],
                    "flask_loaded": any(r["flask_loaded"] for r in items)})
    return out


def postgres_case(kind, path, rows, customers, url):
    """The floor (COPY of the clean rows), the importer and the check on PostgreSQL, each on a scratch
    schema it creates and drops, in its own process; three result rows."""
    import psycopg2

    out = []
    for case in ("floor", "importer", "check"):
        schema = f"bench_intake_{os.getpid()}_{case}"
        connection = psycopg2.connect(url)
        connection.autocommit = True
        connection.cursor().execute(f"CREATE SCHEMA {schema}")
        try:
            scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}%2Cpublic"  # public: pg_trgm
            command = [sys.executable, "-m", "bench.intake", "--prepare-postgres", scoped, "--customers-in-db",
                       str(customers)]
            subprocess.run(command, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            progress(f"{kind}: {case} on PostgreSQL, {rows:,} rows")
            result = spawn(case, path, scoped, kind)
        finally:
            connection.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
            connection.close()
        out.append({"kind": kind, "case": case, "database": "PostgreSQL (COPY)", "rows": rows,
                    "written": result["written"], "seconds": result["seconds"], "rows_per_s": rows / result["seconds"],
                    "peak_rss_mb": result["peak_rss_mb"], "rss_before_mb": result["rss_before_mb"],
                    "counts": result["counts"], "flask_loaded": result["flask_loaded"]})
    if len({r["written"] for r in out}) != 1:
        raise RuntimeError(f"{kind} on PostgreSQL: the floor, the importer and the check wrote "
                           f"{[r['written'] for r in out]} rows")
    return out


def prepare_postgres(url, customers):
    with make_app(url).app_context():
        import models
        from web.setup import init_db

        init_db()
        if customers:
            seed_customers(models.db, customers)


# --- XLSX readers ------------------------------------------------------------------------------

XLSX_FILES = ("inline", "shared")  # openpyxl write-only's inline strings; shared strings and dates, as Excel saves
XLSX_READERS = ("openpyxl", "calamine", "etree", "intake.files")
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def customers_xlsx(rows, layout="inline"):
    """The first `rows` rows of the customers CSV as an XLSX sheet, made once.  "inline": openpyxl
    write-only (every text an inline string); "shared": written as Excel saves a sheet, every text in
    the shared-strings table, 员工人数 as numbers and ISO first-contact dates as date cells."""
    path = os.path.join(DATA, f"intake_customers_{rows}.xlsx" if layout == "inline" else
                        f"intake_customers_{rows}_shared.xlsx")
    if os.path.exists(path):
        return path
    source = customers_csv(rows)
    progress(f"writing {rows:,} rows to {path}")
    if layout == "inline":
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("客户")
        with open(source, encoding="gb18030", newline="") as handle:
            for row in csv.reader(handle):
                sheet.append(row)
        workbook.save(path + ".partial")
    else:
        _write_shared_strings_xlsx(source, path + ".partial")
    os.replace(path + ".partial", path)
    return path


def _write_shared_strings_xlsx(source, path):
    """The CSV as Excel writes a workbook: <c t="s"> indexes into xl/sharedStrings.xml, numbers as <v>,
    dates as serials with a date style (s="1", built-in format 14)."""
    import zipfile
    from xml.sax.saxutils import escape

    epoch = datetime.date(1899, 12, 30)
    strings = {}
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        archive.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                         'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="'
                         'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                         f'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="{office}'
                         f'.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="{office}'
                         f'.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="{office}.styles+xml"/>'
                         f'<Override PartName="/xl/sharedStrings.xml" ContentType="{office}.sharedStrings+xml"/>'
                         '</Types>')
        archive.writestr("_rels/.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                         f'relationships"><Relationship Id="rId1" Type="{rels}/officeDocument" '
                         'Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN_NS}" xmlns:r="{rels}"><sheets><sheet name="客户" '
                         'sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/'
                         f'package/2006/relationships"><Relationship Id="rId1" Type="{rels}/worksheet" '
                         f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rels}/styles" '
                         f'Target="styles.xml"/><Relationship Id="rId3" Type="{rels}/sharedStrings" '
                         'Target="sharedStrings.xml"/></Relationships>')
        archive.writestr("xl/styles.xml", f'<styleSheet xmlns="{MAIN_NS}"><cellXfs count="2"><xf numFmtId="0"/>'
                         '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>')
        with open(source, encoding="gb18030", newline="") as handle, \
                archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
            for row_no, row in enumerate(csv.reader(handle), 1):
                cells = []
                for col, value in enumerate(row):
                    ref = f"{chr(65 + col)}{row_no}"
                    if not value:
                        continue
                    if row_no > 1 and col == 8 and value.replace(",", "").isdigit():
                        cells.append(f'<c r="{ref}"><v>{int(value.replace(",", ""))}</v></c>')
                    elif row_no > 1 and col == 10 and len(value) == 10 and value[4] == "-" and value[7] == "-":
                        try:
                            serial = (datetime.date.fromisoformat(value) - epoch).days
                            cells.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
                            continue
                        except ValueError:
                            pass
                        cells.append(f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>')
                    else:
                        cells.append(f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>')
                sheet.write(f'<row r="{row_no}">{"".join(cells)}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="{len(strings)}" '
                        f'uniqueCount="{len(strings)}">'.encode())
            for text in strings:
                space = ' xml:space="preserve"' if text != text.strip() else ""
                table.write(f"<si><t{space}>{escape(text)}</t></si>".encode())
            table.write(b"</sst>")


def read_openpyxl(path, first):
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = 0
    for values in workbook.worksheets[0].iter_rows(values_only=True):
        count += 1
        first = first or time.perf_counter()
    workbook.close()
    return count, first


def read_calamine(path, first):
    """python-calamine 0.9: get_sheet_by_index parses the whole sheet into memory; iter_rows then walks it."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(path)
    count = 0
    for values in workbook.get_sheet_by_index(0).iter_rows():
        count += 1
        first = first or time.perf_counter()
    workbook.close()
    return count, first


def read_etree(path, first):
    """The other streaming candidate: xml.etree's iterparse over the zip members (the C accelerator builds
    each element), every <row> cleared once read; shared strings looked up, no types."""
    import zipfile
    from xml.etree import ElementTree

    ns = "{" + MAIN_NS + "}"
    row_tag, value_tag, inline_tag = ns + "row", ns + "v", ns + "is"
    count = 0
    with zipfile.ZipFile(path) as archive:
        strings = []
        if "xl/sharedStrings.xml" in archive.namelist():
            with archive.open("xl/sharedStrings.xml") as handle:
                for _event, element in ElementTree.iterparse(handle):
                    if element.tag == ns + "si":
                        strings.append("".join(element.itertext()))
                        element.clear()
        with archive.open("xl/worksheets/sheet1.xml") as handle:
            parent = None
            for event, element in ElementTree.iterparse(handle, events=("start", "end")):
                if event == "start":
                    if parent is None and element.tag == ns + "sheetData":
                        parent = element
                    continue
                if element.tag != row_tag:
                    continue
                values = []
                for cell in element:
                    kind = cell.get("t")
                    if kind == "inlineStr":
                        found = cell.find(inline_tag)
                        values.append("".join(found.itertext()) if found is not None else None)
                    else:
                        found = cell.find(value_tag)
                        text = found.text if found is not None else None
                        values.append(strings[int(text)] if kind == "s" and text else text)
                count += 1
                first = first or time.perf_counter()
                parent.clear()
    return count, first


def read_engine(path, first):
    """intake.files as shipped: every data row of the sheet through Table.rows()."""
    from intake import files

    count = 1
    for _ in files.open_table(path, max_bytes=BIG).rows():
        count += 1
        first = first or time.perf_counter()
    return count, first


def run_reader(reader, path):
    start = time.perf_counter()
    count, first = {"openpyxl": read_openpyxl, "calamine": read_calamine, "etree": read_etree,
                    "intake.files": read_engine}[reader](path, None)
    end = time.perf_counter()
    return {"reader": reader, "seconds": end - start, "first_row_s": (first or end) - start, "rows": count,
            "peak_rss_mb": _rss_mb()}


def has_calamine():
    import importlib.util

    return importlib.util.find_spec("python_calamine") is not None


def compare_xlsx(rows, runs, readers=XLSX_READERS, layouts=XLSX_FILES):
    """Every reader on each file, in interleaved rounds, each run in a fresh process (its own peak RSS):
    the time to read every cell, the time to the first row, the peak memory.  calamine only when
    installed (pip install python-calamine; the bench extra)."""
    readers = [r for r in readers if r != "calamine" or has_calamine()]
    results = {}
    for _ in range(runs):
        for layout in layouts:
            path = customers_xlsx(rows, layout)
            for reader in readers:
                progress(f"XLSX ({layout}): {reader}, {rows:,} rows")
                command = [sys.executable, "-m", "bench.intake", "--read-xlsx", reader, "--file", path]
                done = subprocess.run(command, capture_output=True, text=True,
                                      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
                if done.returncode != 0:
                    raise RuntimeError(f"XLSX reader {reader} failed on {path}:\n{done.stderr[-4000:]}")
                results.setdefault((layout, reader), []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = []
    for (layout, reader), items in results.items():
        if {r["rows"] for r in items} != {rows + 1}:
            raise RuntimeError(f"{reader} read {items[0]['rows']} rows of {rows + 1} in the {layout} file")
        seconds = sorted(r["seconds"] for r in items)[len(items) // 2]
        out.append({"file": layout, "reader": reader, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
                    "first_row_s": sorted(r["first_row_s"] for r in items)[len(items) // 2],
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in items),
                    "file_mb": os.path.getsize(customers_xlsx(rows, layout)) / 1024 / 1024})
    return out


def xlsx_table(xlsx, runs, load_start, load_end):
    """The readers side by side, per file; the ratios are to intake.files on the same file."""
    names = {"inline": "inline strings (openpyxl write-only)", "shared": "shared strings and dates (as Excel saves)"}
    shipped = {r["file"]: r for r in xlsx if r["reader"] == "intake.files"}
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {load_start:.2f} at the start and {load_end:.2f} "
             "at the end" + (" (the machine was busy with other work: compare the ratios)"
                             if max(load_start, load_end) > 1.5 else "") +
             f", median of {runs} interleaved round(s), each reader in its own process.", "",
             "| file | reader | rows | seconds | rows/s | ÷ intake.files | first row after s | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in xlsx:
        base = shipped.get(r["file"])
        ratio = f"{r['seconds'] / base['seconds']:.2f}" if base else "—"
        lines.append(f"| {names.get(r['file'], r['file'])}, {r['file_mb']:.0f} MB | {r['reader']} | {r['rows']:,} | "
                     f"{r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {ratio} | {r['first_row_s']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


# --- report ----------------------------------------------------------------------------------

def table(results, xlsx, runs, load_start, load_end):
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')}, load average {load_start:.2f} at the start and "
             f"{load_end:.2f} at the end" + (" (the machine was busy with other work: times are pessimistic)"
                                              if max(load_start, load_end) > 1.5 else "") +
             f", median of {runs} interleaved round(s), each case in its own process on a fresh copy of the database.",
             "", "| file | case | database | rows | written | seconds | rows/s | ÷ baseline | ÷ floor | peak RSS MB "
             "| RSS growth MB |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base = {(r["kind"], r["rows"], r["database"]): r["seconds"] for r in results if r["case"] == "baseline"}
    floor = {(r["kind"], r["rows"], r["database"]): r["seconds"] for r in results if r["case"] == "floor"}
    names = {"bare": "bare table (no indexes)", "floor": "floor (writes only)", "check": "check (dry run)"}
    imported = {(r["kind"], r["rows"], r["database"]): r["seconds"] for r in results if r["case"] == "importer"}
    for r in results:
        key = (r["kind"], r["rows"], r["database"])
        ratios = [f"{r['seconds'] / of[key]:.2f}" if of.get(key) else "—" for of in (base, floor)]
        holds_all = r["case"] in ("bare", "floor")  # their rows are in memory before the clock starts
        memory = ("— | —" if holds_all else
                  f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - r['rss_before_mb']:.0f}")
        case = names.get(r["case"], r["case"])
        if r["case"] == "check" and imported.get(key):  # the check beside the import of the same file
            case = f"check (dry run): {r['seconds'] / imported[key]:.2f} × import"
        lines.append(f"| {r['kind']} | {case} | {r['database']} | {r['rows']:,} | "
                     f"{r['written']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {ratios[0]} | {ratios[1]} | "
                     f"{memory} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="rows of the customers CSV (0: skip)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="rows of the orders CSV (0: skip)")
    parser.add_argument("--xlsx-rows", type=int, default=200_000, help="rows of the XLSX sheet (0: skip)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--xlsx-readers", default=",".join(XLSX_READERS),
                        help="which XLSX readers to measure (openpyxl takes minutes at 200k rows)")
    parser.add_argument("--postgres-rows", type=int, default=0,
                        help="with DATABASE_URL: at most this many rows per file on PostgreSQL (0: as on SQLite)")
    parser.add_argument("--write-docs", action="store_true")
    # internal: one case in this process
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--read-xlsx", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-postgres", help=argparse.SUPPRESS)
    parser.add_argument("--customers-in-db", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.file, args.database, args.kind)))
        return None
    if args.read_xlsx:
        print(json.dumps(run_reader(args.read_xlsx, args.file)))
        return None
    if args.prepare_postgres:
        prepare_postgres(args.prepare_postgres, args.customers_in_db)
        return None
    load_start = os.getloadavg()[0]
    results, xlsx = [], []
    url = os.environ.get("DATABASE_URL", "")
    if args.customers:
        path = customers_csv(args.customers)
        results += compare("customers", path, args.customers, empty_database(0), args.runs)
        if url.startswith("postgres"):
            rows = min(args.customers, args.postgres_rows or args.customers)
            results += postgres_case("customers", customers_csv(rows), rows, 0, url)
    if args.orders:
        in_db = max(1000, args.orders // 10)
        path = orders_csv(args.orders, in_db)
        results += compare("orders", path, args.orders, empty_database(in_db), args.runs)
        if url.startswith("postgres"):
            rows = min(args.orders, args.postgres_rows or args.orders)
            results += postgres_case("orders", orders_csv(rows, in_db), rows, in_db, url)
    if args.xlsx_rows:
        xlsx = compare_xlsx(args.xlsx_rows, args.runs, readers=args.xlsx_readers.split(","))
    load_end = os.getloadavg()[0]
    markdown = table(results, xlsx, args.runs, load_start, load_end) if results else ""
    xlsx_markdown = xlsx_table(xlsx, args.runs, load_start, load_end) if xlsx else ""
    print("\n\n".join(part for part in (markdown, xlsx_markdown) if part))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "intake.json" if results else "intake_xlsx.json"), "w") as handle:
        json.dump({"results": results, "xlsx": xlsx}, handle, indent=1, default=str)
    if args.write_docs:  # each part in its own section, so a run of one part keeps the other's table
        if markdown:
            write_docs(markdown, section="intake")
        if xlsx_markdown:
            write_docs(xlsx_markdown, section="intake-xlsx")
    return results, xlsx


if __name__ == "__main__":
    main()
