"""A labelled set for the duplicate scan: N customers in a SQLite file, with planted duplicate groups of
every kind dedup claims, look-alike traps that must not be grouped, and the truth kept beside them.

    from bench.dedup_labels import generate, true_pairs
    stats = generate("bench/data/dedup_1000000.db", 1_000_000)   # (re)writes the file
    pairs = true_pairs(path)        # {(id_a, id_b)} with id_a < id_b: every pair of one entity's records

Every record belongs to an *entity* (one real customer).  Most entities have one record; a planted group is
one entity entered two or three times, in one of these ways (the `kind` of its records):

    mobile        same mobile written differently (+86, 0086, spaces, dashes, full-width digits), other name
    email         same e-mail in other case, another mobile
    id_number     a person with the same ID number (digest column), another mobile
    traditional   a company name in traditional characters (深圳華為技術有限公司), another mobile
    suffix        the same company with another legal form (有限公司 / 股份有限公司 / 集团 / 有限责任公司)
    city          the same company with its city in front, in brackets, with 市, or left out
    contact       a similar name (a homophone: 华为/化为, or one changed character) and the same contact person
    address       a similar name and the same address written differently (spaces, full-width digits)
    phone         a similar name and the same landline written differently ((010) 6234-5678 / 010-62345678)
    domain        a similar name and e-mail addresses at the same company domain
    person_address  a person written in traditional characters or with a space, at the same address

Traps are entities of their own that look alike (truth: not one customer; `kind` says which trap):

    namesake      two 个人 with one common name (王伟, 李娜 ...), different mobiles and addresses
    other_city    the same trade name in two cities (杭州瑞达科技 / 北京瑞达科技), nothing else shared
    free_mail     similar names whose e-mails share a free-mail domain (qq.com, 163.com ...)
    common_contact  similar names sharing one of the most common contact names, which thousands of
                  other customers also carry
    household     two people at one address with different names

Rows are written set-based (executemany in one transaction) into `customer` (the models' schema; only
the columns the scan reads plus code and owner; ID numbers only as their keyed digest) and the truth
into `bench_truth(customer_id, entity, kind)`.  Same size and seed, same data.
"""
import datetime
import hashlib
import hmac
import itertools
import os
import random
import sqlite3

BENCH_KEY = b"bench-field-key-0123456789abcdef"
OWNERS = 5  # users owning the customers round-robin (a scan in one's row scope covers a fifth)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯健俊帆帅旭宁龙林欣"
         "佳琳雪倩婷颖慧晶晨阳峰博志刚海波亮成松翔飞鑫雷彬瑶蕾薇琪璐露怡悦然恒毅哲睿泽轩航宏家振")
COMMON_NAMES = ("王伟", "李娜", "张伟", "王芳", "刘洋", "李静", "张敏", "王静", "李强", "张丽")
BRAND = ("瑞达华信恒通鑫隆泰盛宏兴安康永德嘉利丰源博远创新金银天宇星辰凯越祥富贵荣明光东方和昌茂成峰"
         "润泽辉耀腾飞卓远启航正道合众联创益民汇聚景顺百川万象晟凌")
HOMOPHONES = dict(("华化", "伟为", "达大", "通同", "信新", "恒衡", "盛胜", "宏洪", "兴星", "安岸", "永勇", "德得",
                   "嘉佳", "利力", "丰峰", "源元", "博波", "远元", "创窗", "金津", "天田", "宇雨", "星兴", "辰晨",
                   "凯楷", "越悦", "瑞锐", "祥翔", "富福", "贵桂", "荣容", "明鸣", "光广", "东冬", "方芳", "泰太",
                   "和禾", "隆龙", "昌常", "茂贸", "成诚", "峰丰"))
INDUSTRY = ("科技 网络科技 信息技术 电子 贸易 商贸 实业 建材 食品 医药 物流 机械 化工 纺织 服饰 文化传媒 广告 教育科技 "
            "环保科技 新能源 生物科技 软件 通信 电器 汽车服务 餐饮管理 酒店管理 房地产开发 建筑工程 装饰工程 农业发展 "
            "投资管理 咨询 人力资源 印刷 包装 家具 五金 电气 仪器").split()
SUFFIX = ("有限公司", "股份有限公司", "有限责任公司", "集团有限公司", "集团")
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州", "天津", "重庆", "长沙", "郑州",
          "青岛", "厦门", "宁波", "合肥", "福州", "济南")
AREA = {"北京": "010", "上海": "021", "广州": "020", "深圳": "0755", "杭州": "0571", "南京": "025", "成都": "028",
        "武汉": "027", "西安": "029", "苏州": "0512", "天津": "022", "重庆": "023", "长沙": "0731", "郑州": "0371",
        "青岛": "0532", "厦门": "0592", "宁波": "0574", "合肥": "0551", "福州": "0591", "济南": "0531"}
DISTRICTS = "朝阳 海淀 东城 西城 高新 经开 滨江 江北 南山 福田 天河 越秀 武侯 锦江 雁塔 工业园 鼓楼 玄武 岳麓 金水".split()
ROADS = "人民 解放 建设 中山 和平 新华 胜利 文化 光明 长江 黄河 科技 创业 学院 东风 西湖 复兴 迎宾 花园 友谊".split()
FREE_MAIL = ("qq.com", "163.com", "126.com", "gmail.com", "sina.com", "foxmail.com")
PLANTED = ("mobile", "email", "id_number", "traditional", "suffix", "city", "contact", "address", "phone", "domain",
           "person_address")
TRAPS = ("namesake", "other_city", "free_mail", "common_contact", "household")
DUPLICATE_SHARE = 0.04  # planted groups per customer (2-3 records each: about 10 % of the records)
TRAP_SHARE = 0.01  # trap pairs per customer
SURNAME_WEIGHTS = list(itertools.accumulate(1 / (rank + 4) for rank in range(len(SURNAMES))))  # 王 about 4 %
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _leading_place(text):
    from dedup.normalise import _leading_place as leading

    return leading(text)


def id_number(n):
    """An 18-character ID number of entity n, one per entity."""
    return f"{110101 + n // 100_000:06d}19{n // 1000 % 100:02d}0101{n % 1000:03d}X"


def digest(number):
    """The id_number_digest the app would store under the bench's FIELD_KEY (models.sealed.digest)."""
    key = hashlib.sha256(b"digest:" + BENCH_KEY).digest()
    return hmac.new(key, "".join(number.split()).upper().encode(), "sha256").hexdigest()


class _Maker:
    """Values of one entity: unique mobiles, landlines, addresses and domains by entity number."""

    def __init__(self, rng):
        self.rng = rng
        self.cores = set()
        self.serial = itertools.count(1)
        self._s2t = None

    def person(self):
        rng = self.rng
        if rng.random() < 0.04:
            return rng.choice(COMMON_NAMES)
        given = rng.choice(GIVEN) if rng.random() < 0.3 else rng.choice(GIVEN) + rng.choice(GIVEN)
        return rng.choices(SURNAMES, cum_weights=SURNAME_WEIGHTS)[0] + given

    def rare_person(self):
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN) + self.rng.choice(GIVEN)

    def core(self):
        """A company name's distinctive part, unused so far (brand + industry)."""
        rng = self.rng
        while True:
            size = 2 if rng.random() < 0.5 else 3
            brand = "".join(rng.choice(BRAND) for _ in range(size))
            core = brand + rng.choice(INDUSTRY)
            if core not in self.cores and not _leading_place(core):  # 金华, 嘉兴, 泰安 are cities
                self.cores.add(core)
                return core

    def similar(self, core):
        """Another spelling of `core`, unused so far: a homophone for one brand character (华为/化为), else one
        character doubled; None when every such spelling is taken."""
        options = [core[:i] + HOMOPHONES[char] + core[i + 1:] for i, char in enumerate(core[:3]) if char in HOMOPHONES]
        self.rng.shuffle(options)
        options += [core[:i + 1] + core[i] + core[i + 1:] for i in range(2)]
        for option in options:
            if option not in self.cores:
                self.cores.add(option)
                return option
        return core[:2] + "新" + core[2:]

    def mobile(self, n):
        return str(13_000_000_000 + (n * 104_729) % 6_000_000_000)

    def phone(self, n, city):
        return f"{AREA[city]}-{(n * 7_907) % 100_000_000:08d}"

    def address(self, n, city):
        rng = self.rng
        return f"{city}市{rng.choice(DISTRICTS)}区{rng.choice(ROADS)}路{n}号"

    def domain(self, n):
        return f"corp{n:x}.com.cn"

    def traditional(self, text):
        if self._s2t is None:
            import opencc

            self._s2t = opencc.OpenCC("s2t.json")
        return self._s2t.convert(text)


def _company(maker, n, core=None, city=None, contact=None, free_mail=None):
    rng = maker.rng
    core = core or maker.core()
    city = city or rng.choice(CITIES)
    name = (city if rng.random() < 0.5 else "") + core + rng.choice(SUFFIX[:3])
    return {
        "name": name, "customer_type": "企业", "contact": contact or maker.person(), "mobile": maker.mobile(n),
        "phone": maker.phone(n, city) if rng.random() < 0.6 else None,
        "email": (f"{rng.choice(('info', 'sales', 'admin', 'hr'))}{n}@{free_mail}" if free_mail else
                  f"{rng.choice(('info', 'sales', 'admin', 'hr'))}@{maker.domain(n)}" if rng.random() < 0.5 else None),
        "address": maker.address(n, city) if rng.random() < 0.6 else None, "id_number_digest": None,
        "_core": core, "_city": city,
    }


def _person(maker, n, name=None):
    rng = maker.rng
    city = rng.choice(CITIES)
    name = name or maker.person()
    return {
        "name": name, "customer_type": "个人", "contact": name if rng.random() < 0.5 else None, "mobile": maker.mobile(n),
        "phone": None, "email": f"u{n}@{rng.choice(FREE_MAIL)}" if rng.random() < 0.4 else None,
        "address": maker.address(n, city) if rng.random() < 0.5 else None,
        "id_number_digest": digest(id_number(n)) if rng.random() < 0.4 else None,
    }


def _mobile_format(number, rng):
    return rng.choice((f"+86 {number[:3]} {number[3:7]} {number[7:]}", f"{number[:3]}-{number[3:7]}-{number[7:]}",
                       number.translate(FULLWIDTH), f"0086{number}", f"{number[:3]} {number[3:7]} {number[7:]}"))


def _planted(maker, kind, n, spare):
    """The records of one entity entered 2-3 times in the way `kind` says.  `spare` gives fresh entity
    numbers for values that must differ (another mobile)."""
    rng = maker.rng
    copies = 2 if rng.random() < 0.7 else 3
    if kind in ("id_number", "person_address", "mobile") and (kind != "mobile" or rng.random() < 0.4):
        first = _person(maker, n)
    else:
        first = _company(maker, n)
    records = [first]
    shared_contact = maker.rare_person()
    for _ in range(copies - 1):
        other = dict(first)
        fresh = next(spare)
        if kind == "mobile":
            other["mobile"] = _mobile_format(first["mobile"], rng)
            other.update(email=None, address=None, phone=None, id_number_digest=None)
            if first["customer_type"] == "企业":
                other["name"] = maker.similar(first["_core"]) + "有限公司"
        elif kind == "email":
            base = first["email"] or f"boss{n}@{maker.domain(n)}"
            first["email"] = base
            other.update(mobile=maker.mobile(fresh), email=base.upper() if rng.random() < 0.5 else base.title(),
                         address=None, phone=None)
        elif kind == "id_number":
            number = id_number(n)
            first["id_number_digest"] = digest(number)
            other.update(mobile=maker.mobile(fresh), address=None, email=None, id_number_digest=digest(number.lower()),
                         name=maker.traditional(first["name"]) if rng.random() < 0.5 else first["name"])
        elif kind in ("traditional", "suffix", "city"):
            core, city = first["_core"], first["_city"]
            if kind == "traditional":
                name = maker.traditional(first["name"])
                if name == first["name"]:
                    name = maker.traditional(city) + core + "股份有限公司"
            elif kind == "suffix":
                name = first["name"].replace("股份有限公司", "").replace("有限责任公司", "").replace("有限公司", "")
                name += rng.choice(("股份有限公司", "集团", "有限责任公司", "集团有限公司", "公司"))
            else:
                name = rng.choice((f"{core}（{city}）有限公司", f"{city}市{core}有限公司", f"{core}有限公司",
                                   f"{city}{core}公司"))
            other.update(name=name, mobile=maker.mobile(fresh), contact=maker.person(), phone=None, email=None,
                         address=None)
        else:  # similar name + one shared piece of evidence
            if kind == "person_address":
                name = first["name"]
                other.update(name=maker.traditional(name) if rng.random() < 0.5 else name[0] + " " + name[1:])
                address = first["address"] or maker.address(n, rng.choice(CITIES))
                first["address"] = address
                other.update(address=address.replace("号", " 号").translate(FULLWIDTH), mobile=maker.mobile(fresh),
                             email=None, contact=None, id_number_digest=None)
            else:
                other.update(name=maker.similar(first["_core"]) + rng.choice(SUFFIX), mobile=maker.mobile(fresh),
                             contact=maker.person(), phone=None, email=None, address=None)
                if kind == "contact":
                    first["contact"] = other["contact"] = shared_contact
                elif kind == "address":
                    address = first["address"] or maker.address(n, first["_city"])
                    first["address"] = address
                    other["address"] = " ".join((address[:2], address[2:])).translate(FULLWIDTH)
                elif kind == "phone":
                    phone = first["phone"] or maker.phone(n, first["_city"])
                    first["phone"] = phone
                    area, number = phone.split("-")
                    other["phone"] = rng.choice((f"({area}) {number[:4]}-{number[4:]}", area + number,
                                                 f"{area} {number}"))
                else:  # domain
                    domain = maker.domain(n)
                    first["email"] = f"sales@{domain}"
                    other["email"] = f"{rng.choice(('li', 'wang', 'zhang', 'caiwu'))}@{domain.upper()}"
        records.append(other)
    return records


def _trap(maker, kind, n, spare):
    """Two entities of one record each that look alike."""
    rng = maker.rng
    m = next(spare)
    if kind == "namesake":
        name = rng.choice(COMMON_NAMES)
        return [_person(maker, n, name), _person(maker, m, name)]
    if kind == "household":
        a, b = _person(maker, n), _person(maker, m)
        if a["name"] == b["name"]:
            b["name"] = a["name"][0] + ("芳" if a["name"][-1] != "芳" else "静")
        a["address"] = b["address"] = maker.address(n, rng.choice(CITIES))
        return [a, b]
    core = maker.core()
    if kind == "other_city":
        first, second = rng.sample(CITIES, 2)
        a, b = _company(maker, n, core, city=first), _company(maker, m, core, city=second)
        a["name"], b["name"] = first + core + "有限公司", second + rng.choice(("", "市")) + core + "有限公司"
        return [a, b]
    other = maker.similar(core)
    city = rng.choice(CITIES)
    if kind == "free_mail":
        domain = rng.choice(FREE_MAIL)
        a, b = _company(maker, n, core, city, free_mail=domain), _company(maker, m, other, city, free_mail=domain)
    else:  # common_contact
        contact = rng.choice(COMMON_NAMES)
        a, b = _company(maker, n, core, city, contact=contact), _company(maker, m, other, city, contact=contact)
    a["name"], b["name"] = core + "有限公司", other + "有限公司"
    return [a, b]


def records(size, seed=7):
    """[(record dict, entity, kind)] of `size` records, shuffled."""
    rng = random.Random(seed)
    maker = _Maker(rng)
    out = []
    entity = itertools.count(1)
    spare = itertools.count(10 * size + 1)  # entity numbers for second values (mobiles) of a planted group
    groups = max(len(PLANTED), int(size * DUPLICATE_SHARE))
    for i in range(groups):
        kind = PLANTED[i % len(PLANTED)]
        n = next(entity)
        out += [(record, n, kind) for record in _planted(maker, kind, n, spare)]
    for i in range(max(len(TRAPS), int(size * TRAP_SHARE))):
        kind = TRAPS[i % len(TRAPS)]
        out += [(record, next(entity), kind) for record in _trap(maker, kind, next(entity), spare)]
    while len(out) < size:
        n = next(entity)
        out.append((_company(maker, n) if rng.random() < 0.7 else _person(maker, n), n, "single"))
    out = out[:size]
    rng.shuffle(out)
    return out


def generate(path, size, seed=7):
    """(Re)write the SQLite file at `path` with `size` labelled customers; returns counts by kind."""
    import models
    from models import Customer, Role, User

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    database = models.bind("sqlite:///" + path)
    database.create_tables([Role, User, Customer])
    # the role and its reps through the models, so columns a later version adds get their defaults (a raw
    # INSERT broke on Role.require_totp); the customers below in bulk, by hand
    with database.atomic():
        Role.insert(id=1, name="sales", label="销售代表", row_scope="own").execute()
        User.insert_many([{"id": i, "username": f"sales{i}", "display_name": f"销售{i}", "role": 1, "active": True,
                           "password_hash": "x", "must_change_password": False,
                           "created_at": datetime.datetime(2026, 1, 1)} for i in range(1, OWNERS + 1)]).execute()
    database.close()
    rows = records(size, seed)
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO customer (id, code, name, customer_type, contact, mobile, phone, email, address, "
            "id_number_digest, owner_id, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '潜在客户', '2026-01-01', '2026-01-01')",
            ((i, f"BN-{i:08d}", r["name"], r["customer_type"], r["contact"], r["mobile"], r["phone"], r["email"],
              r["address"], r["id_number_digest"], i % OWNERS + 1) for i, (r, _, _) in enumerate(rows, 1)))
        con.execute("CREATE TABLE bench_truth (customer_id INTEGER PRIMARY KEY, entity INTEGER, kind TEXT)")
        con.executemany("INSERT INTO bench_truth VALUES (?, ?, ?)",
                        ((i, entity, kind) for i, (_, entity, kind) in enumerate(rows, 1)))
    counts = {}
    for _, _, kind in rows:
        counts[kind] = counts.get(kind, 0) + 1
    con.execute("ANALYZE")
    con.close()
    return counts


def truth(path):
    """{customer id: (entity, kind)} of the file at `path`."""
    con = sqlite3.connect(path)
    try:
        return {row[0]: (row[1], row[2]) for row in con.execute("SELECT customer_id, entity, kind FROM bench_truth")}
    finally:
        con.close()


def pairs_of(clusters):
    """{(a, b)} with a < b: every pair inside each cluster (an iterable of id lists)."""
    found = set()
    for members in clusters:
        members = sorted(members)
        found.update(itertools.combinations(members, 2))
    return found


def true_pairs(path):
    by_entity = {}
    for customer, (entity, _) in truth(path).items():
        by_entity.setdefault(entity, []).append(customer)
    return pairs_of(members for members in by_entity.values() if len(members) > 1)
