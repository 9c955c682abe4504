"""Matching keys of a customer's values: what two records must share to be the same customer.

Every key is computed from one record alone, so the scan computes each customer's keys once and
compares only records that share a key (blocking); the check of one new record uses the same keys.

    company_name("深圳華為技術有限公司")      -> ("华为技术", {"深圳"})   traditional -> simplified, suffix and city off
    company_name("百度在线网络技术（北京）有限公司") -> ("百度在线网络技术", {"北京"})
    person_name(" 王 伟 ")                  -> "王伟"
    pinyin("华为技术")                      -> "huaweijishu"
    mobile("+86 138-1234-5678")            -> "13812345678"
    email_domain("Li@HuaWei.com")          -> "huawei.com"   (None for free mail: qq.com, 163.com, gmail.com ...)
    phone("(010) 6234-5678")               -> "01062345678"
    address("北京市海淀区 上地十街10号")      -> "北京市海淀区上地十街10号"
"""
import re
import unicodedata
from functools import lru_cache

from models import standardise

# Mail services anyone can sign up to: a shared domain there says nothing about being one company.
FREE_MAIL = frozenset("""
qq.com vip.qq.com foxmail.com 163.com vip.163.com 126.com vip.126.com yeah.net 188.com sina.com sina.cn vip.sina.com
sohu.com 139.com 189.cn wo.cn 21cn.com tom.com aliyun.com gmail.com googlemail.com hotmail.com outlook.com live.com
live.cn msn.com yahoo.com yahoo.com.cn yahoo.cn icloud.com me.com mac.com 263.net 2980.com protonmail.com
""".split())

# Legal forms and group words at the end of a company name, longest first (stripped repeatedly).
SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "集团股份", "有限公司", "集团公司", "控股集团", "总公司",
            "集团", "公司", "股份", "有限", "控股", "商行", "工作室")
SUFFIX_RE = re.compile("(?:" + "|".join(SUFFIXES) + ")+$")
LATIN_SUFFIXES = frozenset(("co", "company", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "llc",
                            "plc", "group", "holdings", "gmbh"))
PROVINCES = ("北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 "
             "贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门").split()
CITIES = ("深圳 广州 杭州 南京 苏州 无锡 常州 宁波 温州 绍兴 嘉兴 金华 台州 合肥 福州 厦门 泉州 南昌 济南 青岛 烟台 潍坊 "
          "郑州 洛阳 武汉 长沙 成都 西安 沈阳 大连 长春 哈尔滨 石家庄 唐山 太原 呼和浩特 南宁 桂林 海口 三亚 贵阳 昆明 "
          "兰州 西宁 银川 乌鲁木齐 拉萨 东莞 佛山 珠海 中山 惠州 汕头 江门 湛江 徐州 南通 扬州 盐城 镇江 泰州 连云港 "
          "淮安 宿迁 芜湖 蚌埠 保定 廊坊 邯郸 沧州 秦皇岛 大同 包头 鄂尔多斯 柳州 遵义 绵阳 宜昌 襄阳 株洲 湘潭 岳阳 "
          "赣州 九江 漳州 莆田 临沂 淄博 威海 济宁 泰安 开封 新乡 南阳 宝鸡 咸阳 鞍山 抚顺 吉林 大庆 齐齐哈尔").split()
PLACES = frozenset(PROVINCES) | frozenset(CITIES)
# What administrative divisions append to a place name (北京市, 广东省, 内蒙古自治区), longest first.
DIVISIONS = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")
# A place in brackets anywhere: 百度在线网络技术（北京）有限公司.
BRACKETED = re.compile(r"[(（\[【]([^()（）\[\]【】]*)[)）\]】]")
NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
LATIN_WORDS = re.compile(r"[0-9a-z]+|[^0-9a-z]+")
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[a-z]")
PLACE_HEADS = frozenset(place[:2] for place in PLACES)  # a leading place starts with one of these


@lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("t2s.json")


@lru_cache(maxsize=1)
def _to_traditional():
    import opencc

    return opencc.OpenCC("s2t.json"), opencc.OpenCC("s2tw.json")


@lru_cache(maxsize=1)
def _traditional_characters():
    """The characters t2s changes: text without any of them is converted by not converting it
    (the common case, and a set test costs a tenth of a conversion)."""
    block = "".join(chr(code) for code in range(0x3400, 0xA000))
    converted = _converter().convert("\n".join(block)).split("\n")
    return frozenset(char for char, simple in zip(block, converted) if simple != char)


def simplified(text):
    """Traditional characters as simplified ones (華為 -> 华为); other text unchanged."""
    if not text or _traditional_characters().isdisjoint(text):
        return text
    return _converter().convert(text)


def traditional_forms(text):
    """The ways `text` may be written in traditional characters (for searching stored names)."""
    general, taiwan = _to_traditional()
    return {general.convert(text), taiwan.convert(text)} - {text}


def _plain(text):
    """Half-width, simplified, lower-case; None for empty."""
    cleaned = standardise.text(text)
    if not cleaned:
        return None
    return simplified(cleaned).lower()


DIVISION = re.compile("|".join(DIVISIONS))  # alternatives tried in order: 壮族自治区 before 自治区


def _leading_place(text):
    """(place, length) of a place name (with 省/市/自治区...) at the start of `text`, or None."""
    if text[:2] not in PLACE_HEADS:  # every place starts with one of these: most texts stop here
        return None
    for size in (2, 3, 4):
        head = text[:size]
        if head in PLACES:
            division = DIVISION.match(text, size)
            return head, division.end() if division else size
    return None


def _strip_place(text, places):
    """`text` without its leading places (added to `places`), unless a place is all that is left."""
    while True:
        found = _leading_place(text)
        if not found or found[1] >= len(text):
            return text
        places.add(found[0])
        text = text[found[1]:]


def _strip_suffix(text):
    found = SUFFIX_RE.search(text)
    return text[: found.start()] if found else text


def company_name(name):
    """(core, places) of a company name: the name without legal form, group words and place names,
    and the places it named (a set, empty when none).  None when nothing distinctive is left."""
    return company_core(_plain(name))


def company_core(text):
    """company_name() of a name already through _plain() (the scan folds whole columns at once)."""
    if not text:
        return None
    places = set()

    def bracket(found):
        inner = NOT_WORD.sub("", found.group(1))
        stripped = _strip_place(inner + "\x00", places).rstrip("\x00") if inner else ""
        return "" if not stripped or stripped in ("省", "市") else " " + inner + " "

    if "(" in text or "（" in text or "[" in text or "【" in text:
        text = BRACKETED.sub(bracket, text)
    if LATIN.search(text):
        words = [w for w in NOT_WORD.sub(" ", text).split() if w]
        while words and words[-1] in LATIN_SUFFIXES:  # "Huawei Technologies Co., Ltd."
            words.pop()
        text = "".join(words)
    else:  # no Latin word, so no Latin suffix: the same as splitting into words and joining them
        text = NOT_WORD.sub("", text)
    if text[:2] in PLACE_HEADS:
        text = _strip_place(text, places)
    if text.endswith(SUFFIXES):
        text = _strip_suffix(text)
    if len(text) < 2 or (len(text) < 3 and not CJK.search(text)):
        return None
    return text, frozenset(places)


SEPARATOR = "\x1f"
NOT_WORD_OR_SEPARATOR = re.compile(r"[^0-9a-z\u3400-\u9fff\x1f]+")
FULL_WIDTH_CHAR = re.compile("[\uff01-\uff5e\u3000]")  # the keys of standardise.FULL_WIDTH
HALF_WIDTH = {chr(code): chr(half) for code, half in standardise.FULL_WIDTH.items()}


def _halfwidth(text):
    """text.translate(standardise.FULL_WIDTH) as a regex scan: translate looks every character of a long
    string up in a dict, the scan stops only at the full-width ones (few): a tenth of the time."""
    return FULL_WIDTH_CHAR.sub(lambda found: HALF_WIDTH[found.group()], text)


@lru_cache(maxsize=1)
def _traditional_finditer():
    """finditer of the characters t2s changes over a text (a scan of a whole column finds the few values
    holding one faster than a set test per value)."""
    return re.compile("[" + "".join(re.escape(char) for char in sorted(_traditional_characters())) + "]").finditer


def _joined(texts):
    """SEPARATOR.join(texts), or None when a text holds the separator itself."""
    joined = SEPARATOR.join(texts)
    return joined if joined.count(SEPARATOR) == max(len(texts) - 1, 0) else None


def _folded(values):
    """(lowered, converted) of a column (not empty): the values joined, half-width and lower-cased; {index:
    text} of the values holding traditional characters, through _plain() (found by one regex scan of the
    column).  None when a value is not text or holds the separator."""
    try:
        joined = _joined([value or "" for value in values])
    except TypeError:  # a value that is not text
        return None
    if joined is None:
        return None
    folded = _halfwidth(joined)
    converted = {}
    index, last = 0, 0
    for found in _traditional_finditer()(folded):
        start = found.start()
        if start < last:  # the rest of a value already converted
            continue
        index += folded.count(SEPARATOR, last, start)
        begin = folded.rfind(SEPARATOR, 0, start) + 1
        end = folded.find(SEPARATOR, start)
        last = len(folded) if end < 0 else end
        converted[index] = _converter().convert(folded[begin:last].strip()).lower()
    return folded.lower(), converted


def plain_column(values):
    """[_plain(v) for v in values], folding the whole column in a few string operations: half-width, lower
    case and split over one joined string, then only the values holding traditional characters go through
    opencc."""
    found = _folded(values) if values else None
    if found is None:
        return [_plain(value) for value in values]
    lowered, converted = found
    out = [text.strip() or None for text in lowered.split(SEPARATOR)]
    for index, text in converted.items():
        out[index] = text
    return out


def words_of(values):
    """words_column(plain_column(values)) in one pass: the characters that are no word go from the whole
    lower-cased column at once (strip() is not needed: spaces are no word)."""
    found = _folded(values) if values else None
    if found is None:
        return words_column(plain_column(values))
    lowered, converted = found
    out = [text or None for text in NOT_WORD_OR_SEPARATOR.sub("", lowered).split(SEPARATOR)]
    for index, text in converted.items():
        out[index] = NOT_WORD.sub("", text) or None
    return out


def words_column(plain):
    """[NOT_WORD.sub("", p) or None for p in plain] (None stays None), over one joined string."""
    joined = _joined([text or "" for text in plain]) if plain else None
    if joined is None:
        return [(NOT_WORD.sub("", text) or None) if text else None for text in plain]
    return [text or None for text in NOT_WORD_OR_SEPARATOR.sub("", joined).split(SEPARATOR)]


# What sends a company name through company_core() one by one: brackets (a place inside) or Latin words
# (legal forms as words: Co., Ltd.).  Other names take the column path of company_column().
BRACKETS_OR_LATIN = re.compile(r"[(（\[【a-z]")
SUFFIXES_AT_END = re.compile("(?:" + "|".join(SUFFIXES) + ")+(?=" + SEPARATOR + r"|\Z)")


def company_column(plain, words, companies):
    """(cores, places): [company_core(p) for p in plain] as two columns (None and an empty set where a
    customer is no company or its name leaves nothing distinctive).  `words` is words_column(plain).

    A name without brackets and Latin letters is its words; leading places come off one by one (half the
    names start with a place at most), legal forms in one regex pass over the joined column."""
    empty = frozenset()
    cores, places = [None] * len(plain), [empty] * len(plain)
    rows, texts = [], []
    needs_core = BRACKETS_OR_LATIN.search
    for i, (text, word, company) in enumerate(zip(plain, words, companies)):
        if not company or not word:  # no words: company_core() gives None too
            continue
        if needs_core(text):
            found = company_core(text)
            if found:
                cores[i], places[i] = found
            continue
        if word[:2] in PLACE_HEADS:
            where = set()
            word = _strip_place(word, where)
            if where:
                places[i] = frozenset(where)
        rows.append(i)
        texts.append(word)
    joined = _joined(texts)
    if joined is None:  # words hold no separator, but should one ever
        stripped = [_strip_suffix(text) if text.endswith(SUFFIXES) else text for text in texts]
    else:
        stripped = SUFFIXES_AT_END.sub("", joined).split(SEPARATOR) if texts else []
    for i, text in zip(rows, stripped):
        if len(text) < 2 or (len(text) < 3 and not CJK.search(text)):
            places[i] = empty
        else:
            cores[i] = text
    return cores, places


def pinyin_column(texts):
    """[pinyin(t) for t in texts] (texts not empty), in one translation of the joined column."""
    joined = _joined(texts)
    if joined is None or not texts:
        return [pinyin(text) for text in texts]
    return joined.translate(_pinyin_table()).split(SEPARATOR)


NOT_DIGIT_OR_SEPARATOR = re.compile(r"[^0-9\x1f]+")


def phone_column(values):
    """[phone(v) for v in values] over one joined string."""
    joined = _joined(["" if value is None else str(value) for value in values]) if values else None
    if joined is None:
        return [phone(value) for value in values]
    digits = NOT_DIGIT_OR_SEPARATOR.sub("", _halfwidth(joined)).split(SEPARATOR)
    out = []
    for number in digits:
        if number.startswith("0086"):
            number = "0" + number[4:]
        out.append(number if len(number) >= 7 else None)
    return out


def email_column(values):
    """[email(v) for v in values] over one joined string."""
    joined = _joined([str(value) if value else "" for value in values]) if values else None
    if joined is None:
        return [email(value) for value in values]
    out = []
    for text in _halfwidth(joined).lower().split(SEPARATOR):
        text = text.strip()
        out.append(text if text and "@" in text else None)
    return out


def domain_of(address):
    """email_domain() of an address already through email()."""
    if not address:
        return None
    domain = address.rsplit("@", 1)[1]
    return None if domain in FREE_MAIL or "." not in domain else domain


@lru_cache(maxsize=200_000)  # person names repeat: 王伟, 李娜 ...
def person_name(name):
    """A person's name compared as written, only simplified, without spaces and dots (艾力·买买提)."""
    text = _plain(name)
    if not text:
        return None
    text = NOT_WORD.sub("", text)
    return text or None


def _tone_free(reading):
    first = reading.split(",")[0]
    bare = "".join(c for c in unicodedata.normalize("NFD", first) if not unicodedata.combining(c))
    return bare.replace("ü", "v")


@lru_cache(maxsize=1)
def _pinyin_table():
    """Each character's first reading without tones, as a str.translate table (pypinyin's own
    conversion costs about 0.1 ms a name: 100 s for a million; a table lookup costs a microsecond)."""
    from pypinyin.pinyin_dict import pinyin_dict

    return {code: _tone_free(reading) for code, reading in pinyin_dict.items()}


def pinyin(text):
    """Toneless pinyin of `text`, other characters kept: 华为技术 -> huaweijishu."""
    return text.translate(_pinyin_table()) if text else text


def mobile(value):
    """11 ASCII digits, or None (a malformed mobile matches nothing)."""
    if not value:
        return None
    if len(value) == 11 and value.isascii() and value.isdigit():
        return value
    try:
        return standardise.mobile(value)
    except standardise.StandardError:
        return None


def mobile_column(values):
    """[mobile(v) for v in values]: 11 ASCII digits pass as they are without a call each."""
    return [value if type(value) is str and len(value) == 11 and value.isdigit() and value.isascii() else mobile(value)
            for value in values]


def email(value):
    if not value:
        return None
    cleaned = standardise.text(value)
    return cleaned.lower() if cleaned and "@" in cleaned else None


def email_domain(value):
    """The domain of an address, unless it is a free mail service (never evidence)."""
    address = email(value)
    if not address:
        return None
    domain = address.rsplit("@", 1)[1]
    return None if domain in FREE_MAIL or "." not in domain else domain


def phone(value):
    """The digits of a landline, at least 7 of them; None otherwise."""
    if not value:
        return None
    digits = "".join(c for c in standardise.halfwidth(str(value)) if "0" <= c <= "9")
    if digits.startswith("0086"):
        digits = "0" + digits[4:]
    return digits if len(digits) >= 7 else None


def address(value):
    """An address compared without spaces and punctuation, simplified; None when too short to tell."""
    text = _plain(value)
    if not text:
        return None
    text = NOT_WORD.sub("", text)
    return text if len(text) >= 6 else None


def contact(value):
    return person_name(value)
