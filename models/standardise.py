"""Standardisation: one way to clean a value, for forms, imports and the API alike.

Each function takes what a person typed or a file held and returns the value as stored, or
raises StandardError with a message (Chinese) that says what is wrong and how to write it.
Empty input (None, "", spaces) becomes None; whether a field may be empty is the caller's rule.

    text("  ＡＢＣ科技 ")          -> "ABC科技"      trim, full-width letters/digits/punctuation to half-width
    mobile("+86 138-1234-5678") -> "13812345678"  11 ASCII digits; +86 / 0086 / spaces / dashes dropped
    email(" Li@Example.COM ")   -> "li@example.com"
    date("2024年1月15日")          -> date(2024, 1, 15)   also 2024-01-15, 2024/1/15, 2024.1.15, Excel serials
    amount("¥1,234.50")         -> Decimal("1234.50")
    choice("industry", "IT")     -> "互联网"        managed-list names, codes and synonyms

Why not unicodedata's NFKC: it also rewrites characters people choose on purpose in names and
notes (① -> 1, ㈱ -> (株)); only the full-width forms of ASCII (U+FF01-U+FF5E) and the
ideographic space are what an input method slips in by accident.
"""
import datetime
import decimal
import re

FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
FULL_WIDTH[0x3000] = 0x20  # ideographic space
_FULL_WIDTH_CHAR = re.compile("[\uff01-\uff5e\u3000]")
ASCII_DIGITS = re.compile(r"^[0-9]+$")
_MOBILE_NOISE = re.compile(r"[\s\-().]")
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # [0-9], not \d: \d also matches full-width and other digits
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE_RE = re.compile(r"^[0-9()\-+ ]{6,20}$")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug included); 1 .. 2958465 is 1900-01-01 .. 9999-12-31.
EXCEL_EPOCH = datetime.date(1899, 12, 30)
EXCEL_SERIALS = (1, 2958465)
DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
DATETIME_PATTERN = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?$")
CURRENCY_MARKS = ("¥", "￥", "RMB", "CNY", "元")

# Synonyms of the fixed lists (the managed lists keep theirs in Choice.aliases, editable by admins).
FIXED_SYNONYMS = {
    "status": {"潜在": "潜在客户", "意向": "意向客户", "成交": "成交客户", "已成交": "成交客户", "流失": "流失客户",
               "已流失": "流失客户", "lead": "潜在客户", "prospect": "意向客户", "customer": "成交客户",
               "lost": "流失客户", "churned": "流失客户"},
    "method": {"电话沟通": "电话", "致电": "电话", "phone": "电话", "call": "电话", "上门": "拜访", "上门拜访": "拜访",
               "visit": "拜访", "email": "邮件", "电子邮件": "邮件", "mail": "邮件", "视频会议": "线上会议",
               "在线会议": "线上会议", "meeting": "线上会议", "online": "线上会议"},
    "result": {"报价": "已报价", "已发报价": "已报价", "quoted": "已报价", "意向": "有意向", "继续跟进": "需跟进", "待跟进": "需跟进", "无意向": "暂无意向", "没有意向": "暂无意向"},
    "customer_type": {"公司": "企业", "单位": "企业", "company": "企业", "个体": "个人", "person": "个人"},
}


class StandardError(ValueError):
    """A value that cannot be standardised; the message is for the person who typed it."""


def halfwidth(value):
    """Full-width ASCII forms and the ideographic space as their ASCII counterparts."""
    return value.translate(FULL_WIDTH)


def text(value):
    """Trimmed, half-width text; None for empty."""
    if value is None:
        return None
    if type(value) is not str:
        value = str(value)
    # Fast paths (imports clean millions of cells): ASCII, or text without a full-width form, is only trimmed.
    if value.isascii() or not _FULL_WIDTH_CHAR.search(value):
        cleaned = value.strip()
    else:
        cleaned = value.translate(FULL_WIDTH).strip()
    return cleaned or None


def mobile(value):
    """A mainland mobile as 11 ASCII digits, or StandardError."""
    cleaned = text(value)
    if cleaned is None:
        return None
    digits = cleaned if cleaned.isdigit() and cleaned.isascii() else _MOBILE_NOISE.sub("", cleaned)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not MOBILE_RE.match(digits):
        raise StandardError("手机号码格式不正确：应为 11 位数字，以 13–19 开头（可带空格、横线或 +86）")
    return digits


def phone(value):
    """A landline (or any number people call) in digits, brackets, dashes, + and spaces."""
    cleaned = text(value)
    if cleaned is None:
        return None
    if not PHONE_RE.match(cleaned):
        raise StandardError("电话格式不正确：只能包含数字、括号、横线和 +，例如 010-62345678")
    return cleaned


def email(value):
    cleaned = text(value)
    if cleaned is None:
        return None
    cleaned = cleaned.lower()
    if not EMAIL_RE.match(cleaned):
        raise StandardError("邮箱格式不正确，例如 name@example.com")
    return cleaned


def code(value):
    """Codes (customer codes, ID numbers) are compared upper-case and half-width."""
    cleaned = text(value)
    return cleaned.upper() if cleaned else None


def _excel_serial(number):
    if not EXCEL_SERIALS[0] <= number <= EXCEL_SERIALS[1]:
        raise StandardError(f"日期无法识别：{number}")
    return EXCEL_EPOCH + datetime.timedelta(days=int(number))


def date(value):
    """A date from 2024-01-15, 2024/1/15, 2024.1.15, 2024年1月15日, 20240115 or an Excel serial."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return _excel_serial(float(value))
    cleaned = text(value)
    if cleaned is None:
        return None
    for pattern in DATE_PATTERNS:
        found = pattern.match(cleaned)
        if found:
            year, month, day = (int(part) for part in found.groups()[:3])
            try:
                return datetime.date(year, month, day)
            except ValueError:
                raise StandardError(f"日期不存在：{cleaned}") from None
    if re.fullmatch(r"\d{1,7}(\.\d+)?", cleaned):
        return _excel_serial(float(cleaned))
    raise StandardError(f"日期无法识别：{cleaned}（可写作 2024-01-15、2024/1/15 或 2024年1月15日）")


def _fast_moment(value):
    """2024-01-15 14:30, 2024-01-15 14:30:05 or 2024-01-15 exactly as written (ASCII, no spaces around): the
    spellings of most exports, read by slicing; None for any other spelling, which takes the general path.
    The same values and the same errors as the general path, which would match these with its patterns."""
    size = len(value)
    if (size != 16 and size != 19 and size != 10) or value[4] != "-" or value[7] != "-" or not value.isascii():
        return None
    year, month, day = value[:4], value[5:7], value[8:10]
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        return None
    if size == 10:
        try:
            return datetime.datetime(int(year), int(month), int(day))
        except ValueError:
            raise StandardError(f"日期不存在：{value}") from None
    hour, minute, second = value[11:13], value[14:16], value[17:19] if size == 19 else "0"
    if (value[10] != " " and value[10] != "T") or value[13] != ":" or (size == 19 and value[16] != ":") \
            or not (hour.isdigit() and minute.isdigit() and second.isdigit()):
        return None
    try:
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise StandardError(f"时间不存在：{value}") from None


def moment(value):
    """A date and time; a date alone is its midnight.  Same forms as date(), plus 2024-01-15 14:30."""
    if value.__class__ is str:
        found = _fast_moment(value)
        if found is not None:
            return found
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        day = _excel_serial(float(value))
        seconds = round((float(value) % 1) * 86400)
        return datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(seconds=seconds)
    cleaned = text(value)
    if cleaned is None:
        return None
    found = DATETIME_PATTERN.match(cleaned)
    if found:
        year, month, day, hour, minute = (int(part) for part in found.groups()[:5])
        second = int(found.group(6) or 0)
        try:
            return datetime.datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise StandardError(f"时间不存在：{cleaned}") from None
    day = date(cleaned)
    return datetime.datetime.combine(day, datetime.time())


# the common spellings of money, read without the general path: ¥1,234.50, 1234.5, 1234元 (ASCII digits)
_PLAIN_AMOUNT = re.compile(r"[¥￥]?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?元?")
_CENTS = decimal.Decimal("0.01")


def amount(value):
    """Money as Decimal with two places, from 1234.5, "1,234.50", "¥1,234" or "1234元"."""
    if value.__class__ is str:
        found = _PLAIN_AMOUNT.fullmatch(value)
        if found is not None:  # what the general path makes of it, with one match instead of seven replaces
            whole, fraction = found.groups()
            number = decimal.Decimal(whole.replace(",", "") + fraction if fraction else whole.replace(",", ""))
            return _cents(number, value)
    if isinstance(value, decimal.Decimal):
        number = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = decimal.Decimal(str(value))
    else:
        cleaned = text(value)
        if cleaned is None:
            return None
        for mark in CURRENCY_MARKS:
            cleaned = cleaned.replace(mark, "")
        cleaned = cleaned.replace(",", "").replace(" ", "")
        try:
            number = decimal.Decimal(cleaned)
        except decimal.InvalidOperation:
            raise StandardError(f"金额无法识别：{value}（可写作 1234.50、1,234.50 或 ¥1,234）") from None
    if not number.is_finite():
        raise StandardError(f"金额无法识别：{value}")
    return _cents(number, value)


def _cents(number, value):
    """`number` with two places; a number with more digits than a Decimal holds (1E26, forty nines) failed
    in quantize with InvalidOperation, which stopped a whole import, and is now a cell's reason."""
    try:
        return number.quantize(_CENTS, rounding=decimal.ROUND_HALF_UP)
    except decimal.InvalidOperation:
        raise StandardError(f"金额过大：{value}") from None


def integer(value):
    cleaned = value if isinstance(value, int) and not isinstance(value, bool) else text(value)
    if cleaned is None:
        return None
    if isinstance(cleaned, int):
        return cleaned
    cleaned = cleaned.replace(",", "")
    if re.fullmatch(r"-?[0-9]+(\.0+)?", cleaned):
        return int(float(cleaned))
    raise StandardError(f"应为整数：{value}")


def _key(value):
    cleaned = text(value)
    return cleaned.casefold() if cleaned else None


def choice(kind, value, entries=None, index=None):
    """The list entry `value` names, by name, code (managed lists) or synonym; StandardError if none.

    `entries` is [(name, code, aliases)] for a managed list (industry, region, source), read from
    Choice by the caller or by choice_entries(); fixed lists (status, method, result, customer_type)
    use their model choices and FIXED_SYNONYMS.
    """
    wanted = _key(value)
    if wanted is None:
        return None
    if entries is None:
        entries = choice_entries(kind)
    if index is None:
        index = choice_index(entries)
    found = index.get(wanted)
    if found is not None:
        return found
    known = "、".join(name for name, _, _ in entries)
    raise StandardError(f"“{text(value)}”不在列表中，可选：{known}")


def choice_index(entries):
    """{normal form of every name, code and synonym: entry name} of [(name, code, aliases)]; the first
    entry that names a value wins, as choice() reads the list in order."""
    index = {}
    for name, short, aliases in entries:
        for candidate in [name, short or ""] + re.split(r"[,，、;；]", aliases or ""):
            key = _key(candidate)
            if key:
                index.setdefault(key, name)
    return index


def choice_entries(kind):
    """[(name, code, aliases)] of list `kind`: a managed list from the database, or a fixed one."""
    from .activity import FOLLOW_METHODS, FOLLOW_RESULTS
    from .customers import CUSTOMER_TYPES, STATUSES, Choice

    fixed = {"status": STATUSES, "method": FOLLOW_METHODS, "result": FOLLOW_RESULTS, "customer_type": CUSTOMER_TYPES}
    if kind in fixed:
        synonyms = FIXED_SYNONYMS.get(kind, {})
        return [(name, None, ",".join(alias for alias, target in synonyms.items() if target == name))
                for name, _ in fixed[kind]]
    rows = Choice.select(Choice.name, Choice.code, Choice.aliases).where(Choice.kind == kind).order_by(
        Choice.position, Choice.name)
    return [(row.name, row.code, row.aliases) for row in rows]
