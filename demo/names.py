"""Chinese personal and company names, with the pinyin their e-mail addresses are made of."""
import bisect
import itertools

# (surname, pinyin, relative frequency): roughly the national ranking, so 王李张 dominate.
SURNAMES = [
    ("王", "wang", 72), ("李", "li", 71), ("张", "zhang", 67), ("刘", "liu", 54), ("陈", "chen", 45),
    ("杨", "yang", 33), ("黄", "huang", 25), ("赵", "zhao", 20), ("吴", "wu", 20), ("周", "zhou", 19),
    ("徐", "xu", 15), ("孙", "sun", 15), ("马", "ma", 12), ("朱", "zhu", 12), ("胡", "hu", 11),
    ("郭", "guo", 11), ("何", "he", 10), ("高", "gao", 10), ("林", "lin", 10), ("罗", "luo", 9),
    ("郑", "zheng", 9), ("梁", "liang", 9), ("谢", "xie", 7), ("宋", "song", 7), ("唐", "tang", 7),
    ("许", "xu", 6), ("韩", "han", 6), ("冯", "feng", 6), ("邓", "deng", 6), ("曹", "cao", 6),
    ("彭", "peng", 5), ("曾", "zeng", 5), ("肖", "xiao", 5), ("田", "tian", 5), ("董", "dong", 5),
    ("袁", "yuan", 5), ("潘", "pan", 5), ("于", "yu", 5), ("蒋", "jiang", 5), ("蔡", "cai", 5),
    ("余", "yu", 4), ("杜", "du", 4), ("叶", "ye", 4), ("程", "cheng", 4), ("苏", "su", 4),
    ("魏", "wei", 4), ("吕", "lv", 4), ("丁", "ding", 4), ("任", "ren", 4), ("沈", "shen", 4),
    ("姚", "yao", 3), ("卢", "lu", 3), ("姜", "jiang", 3), ("崔", "cui", 3), ("钟", "zhong", 3),
    ("谭", "tan", 3), ("陆", "lu", 3), ("汪", "wang", 3), ("范", "fan", 3), ("金", "jin", 3),
    ("石", "shi", 3), ("廖", "liao", 3), ("贾", "jia", 3), ("夏", "xia", 3), ("韦", "wei", 3),
    ("付", "fu", 3), ("方", "fang", 3), ("白", "bai", 3), ("邹", "zou", 3), ("孟", "meng", 3),
    ("熊", "xiong", 3), ("秦", "qin", 3), ("邱", "qiu", 3), ("江", "jiang", 3), ("尹", "yin", 2),
    ("薛", "xue", 2), ("闫", "yan", 2), ("段", "duan", 2), ("雷", "lei", 2), ("侯", "hou", 2),
    ("龙", "long", 2), ("史", "shi", 2), ("陶", "tao", 2), ("黎", "li", 2), ("贺", "he", 2),
    ("顾", "gu", 2), ("毛", "mao", 2), ("郝", "hao", 2), ("龚", "gong", 2), ("邵", "shao", 2),
    ("万", "wan", 2), ("钱", "qian", 2), ("严", "yan", 2), ("武", "wu", 2), ("戴", "dai", 2),
    ("莫", "mo", 1), ("孔", "kong", 1), ("向", "xiang", 1), ("汤", "tang", 1), ("欧阳", "ouyang", 1),
    ("司马", "sima", 1), ("上官", "shangguan", 1), ("诸葛", "zhuge", 1),
]

MALE_CHARS = [
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("勇", "yong"), ("杰", "jie"), ("涛", "tao"),
    ("斌", "bin"), ("超", "chao"), ("明", "ming"), ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"),
    ("华", "hua"), ("飞", "fei"), ("鑫", "xin"), ("波", "bo"), ("宇", "yu"), ("浩", "hao"), ("凯", "kai"),
    ("健", "jian"), ("俊", "jun"), ("帆", "fan"), ("建", "jian"), ("国", "guo"), ("志", "zhi"), ("文", "wen"),
    ("博", "bo"), ("子", "zi"), ("轩", "xuan"), ("睿", "rui"), ("晨", "chen"), ("阳", "yang"), ("海", "hai"),
    ("东", "dong"), ("林", "lin"), ("峰", "feng"), ("坤", "kun"), ("振", "zhen"), ("家", "jia"), ("天", "tian"),
    ("成", "cheng"), ("昊", "hao"), ("然", "ran"), ("泽", "ze"), ("宏", "hong"), ("亮", "liang"), ("龙", "long"),
    ("毅", "yi"), ("德", "de"), ("嘉", "jia"), ("瑞", "rui"),
]
FEMALE_CHARS = [
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"), ("娟", "juan"),
    ("霞", "xia"), ("秀", "xiu"), ("婷", "ting"), ("玲", "ling"), ("雪", "xue"), ("慧", "hui"), ("颖", "ying"),
    ("琳", "lin"), ("洁", "jie"), ("佳", "jia"), ("欣", "xin"), ("怡", "yi"), ("萱", "xuan"), ("涵", "han"),
    ("梦", "meng"), ("雨", "yu"), ("晓", "xiao"), ("思", "si"), ("悦", "yue"), ("倩", "qian"), ("瑶", "yao"),
    ("月", "yue"), ("红", "hong"), ("梅", "mei"), ("燕", "yan"), ("琪", "qi"), ("璐", "lu"), ("楠", "nan"),
    ("诗", "shi"), ("嘉", "jia"), ("蕾", "lei"), ("薇", "wei"), ("莉", "li"), ("文", "wen"), ("婉", "wan"),
]

# Trade names are two syllables, a head and a tail, which gives a thousand or so of them.
TRADE_HEADS = [
    ("华", "hua"), ("恒", "heng"), ("瑞", "rui"), ("鼎", "ding"), ("金", "jin"), ("天", "tian"), ("中", "zhong"),
    ("东", "dong"), ("联", "lian"), ("博", "bo"), ("宏", "hong"), ("嘉", "jia"), ("永", "yong"), ("新", "xin"),
    ("卓", "zhuo"), ("汇", "hui"), ("星", "xing"), ("云", "yun"), ("盛", "sheng"), ("凯", "kai"), ("安", "an"),
    ("智", "zhi"), ("明", "ming"), ("正", "zheng"), ("富", "fu"), ("晨", "chen"), ("海", "hai"), ("蓝", "lan"),
    ("青", "qing"), ("银", "yin"), ("思", "si"), ("和", "he"), ("立", "li"), ("鸿", "hong"), ("腾", "teng"),
    ("润", "run"), ("同", "tong"), ("启", "qi"), ("飞", "fei"), ("精", "jing"), ("景", "jing"), ("九", "jiu"),
    ("信", "xin"), ("百", "bai"), ("德", "de"), ("合", "he"), ("科", "ke"), ("易", "yi"), ("远", "yuan"),
    ("众", "zhong"),
]
TRADE_TAILS = [
    ("信", "xin"), ("通", "tong"), ("达", "da"), ("盛", "sheng"), ("丰", "feng"), ("源", "yuan"), ("远", "yuan"),
    ("创", "chuang"), ("泰", "tai"), ("德", "de"), ("辉", "hui"), ("成", "cheng"), ("宇", "yu"), ("航", "hang"),
    ("诚", "cheng"), ("锐", "rui"), ("捷", "jie"), ("峰", "feng"), ("川", "chuan"), ("泽", "ze"), ("翔", "xiang"),
    ("兴", "xing"), ("和", "he"), ("安", "an"), ("科", "ke"), ("邦", "bang"),
]

# industry -> words that sit between trade name and legal form, e.g. 网络科技
INDUSTRY_WORDS = {
    "互联网": ("网络科技", "信息技术", "软件", "数据科技", "云计算", "互联网科技", "智能科技"),
    "制造": ("机械制造", "精密机械", "电子", "新材料", "汽车零部件", "电气设备", "塑胶制品"),
    "零售": ("商贸", "百货", "超市连锁", "电子商务", "便利店", "贸易"),
    "金融": ("投资管理", "资产管理", "融资租赁", "保险代理", "金融信息服务"),
    "教育": ("教育科技", "文化传播", "教育咨询", "职业培训"),
    "医疗": ("医疗器械", "医药", "健康管理", "生物科技", "医疗科技"),
    "物流": ("物流", "供应链管理", "货运代理", "仓储服务", "快递"),
    "房地产": ("房地产开发", "置业", "物业管理", "建设工程", "房地产经纪"),
    "餐饮": ("餐饮管理", "餐饮服务", "食品", "酒店管理", "餐饮连锁"),
    "能源": ("新能源", "能源科技", "光伏科技", "电力工程", "燃气"),
}
GENERIC_WORDS = ("科技", "实业", "贸易", "发展", "企业管理")
# Domain suffix by industry, so mail addresses read like the company's own site.
INDUSTRY_DOMAIN = {"互联网": "tech", "制造": "mfg", "零售": "shop", "金融": "fin", "教育": "edu",
                   "医疗": "med", "物流": "log", "房地产": "estate", "餐饮": "food", "能源": "energy"}
LEGAL_FORMS = (("有限公司", 80), ("股份有限公司", 12), ("集团有限公司", 5), ("有限责任公司", 3))

TITLES = ("总经理", "采购经理", "行政主管", "财务总监", "IT负责人", "运营总监", "副总经理", "办公室主任")
PERSONAL_MAIL = (("qq.com", 40), ("163.com", 25), ("126.com", 10), ("sina.com", 5), ("foxmail.com", 8),
                 ("outlook.com", 6), ("139.com", 6))


class Weighted:
    """Draws one of `pairs` (value, weight) in proportion to its weight, with one random number."""

    def __init__(self, pairs):
        pairs = [(value, weight) for value, weight in pairs if weight > 0]
        self.values = [value for value, _ in pairs]
        self.cumulative = list(itertools.accumulate(weight for _, weight in pairs))

    def __call__(self, rng):
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def pick(rng, values):
    """rng.choice without its overhead, which shows at millions of customers."""
    return values[int(rng.random() * len(values))]


_SURNAME = Weighted(((surname, pinyin), weight) for surname, pinyin, weight in SURNAMES)
_LEGAL_FORM = Weighted(LEGAL_FORMS)
_MAIL_DOMAIN = Weighted(PERSONAL_MAIL)


def person(rng, male):
    """(name, pinyin) such as ('张伟', 'zhangwei'); given names have one or two characters."""
    surname, surname_py = _SURNAME(rng)
    chars = MALE_CHARS if male else FEMALE_CHARS
    first, first_py = pick(rng, chars)
    if rng.random() < 0.3:
        return surname + first, surname_py + first_py
    second, second_py = pick(rng, chars)
    return surname + first + second, surname_py + first_py + second_py


def company(rng, city, industry):
    """(full name, domain) such as ('杭州瑞达网络科技有限公司', 'ruida-tech.com')."""
    head, head_py = pick(rng, TRADE_HEADS)
    tail, tail_py = pick(rng, TRADE_TAILS)
    if tail == head:  # 安安, 信信 read like a typo
        tail, tail_py = TRADE_TAILS[(TRADE_TAILS.index((tail, tail_py)) + 1) % len(TRADE_TAILS)]
    word = pick(rng, INDUSTRY_WORDS.get(industry, GENERIC_WORDS))
    form = _LEGAL_FORM(rng)
    domain = f"{head_py}{tail_py}-{INDUSTRY_DOMAIN.get(industry, 'corp')}.{'com' if rng.random() < 0.7 else 'cn'}"
    return f"{city}{head}{tail}{word}{form}", domain


def personal_email(rng, pinyin):
    domain = _MAIL_DOMAIN(rng)
    if domain == "qq.com" and rng.random() < 0.6:
        return f"{rng.randrange(10000000, 3999999999)}@qq.com"  # most QQ mail is the QQ number
    x = rng.random()
    suffix = "" if x < 0.4 else str(int(x * 100)) if x < 0.7 else str(1970 + int(x * 1000) % 35)
    return f"{pinyin}{suffix}@{domain}"
