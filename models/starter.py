"""The managed lists a new installation starts with (admins edit them afterwards)."""
from .base import db
from .customers import Choice

REGIONS = [("华北", "HB"), ("华东", "HD"), ("华南", "HN"), ("华中", "HZ"), ("西南", "XN"), ("西北", "XB"), ("东北", "DB")]
INDUSTRIES = [("互联网", "IT"), ("制造", "ZZ"), ("零售", "LS"), ("金融", "JR"), ("教育", "JY"), ("医疗", "YL"),
              ("物流", "WL"), ("房地产", "FC"), ("餐饮", "CY"), ("能源", "NY")]
SOURCES = [("展会", "ZH"), ("转介绍", "ZJ"), ("线上推广", "XS"), ("电话营销", "DH"), ("官网咨询", "GW"), ("合作伙伴", "HZ")]

LISTS = {"region": REGIONS, "industry": INDUSTRIES, "source": SOURCES}
# What people also write for an entry (models.standardise.choice maps them onto it).
ALIASES = {
    "region": {"华北": "北京,天津,河北,山西,内蒙古", "华东": "上海,江苏,浙江,安徽,福建,江西,山东",
               "华南": "广东,广西,海南,深圳", "华中": "河南,湖北,湖南", "西南": "重庆,四川,贵州,云南,西藏",
               "西北": "陕西,甘肃,青海,宁夏,新疆", "东北": "辽宁,吉林,黑龙江"},
    "industry": {"互联网": "IT,信息技术,软件,计算机,互联网/IT", "制造": "制造业,工业,生产制造", "零售": "零售业,商超,批发零售",
                 "金融": "银行,保险,证券,金融业", "教育": "培训,教育培训", "医疗": "医药,医疗健康,卫生",
                 "物流": "快递,运输,仓储,物流运输", "房地产": "地产,房产,房地产业", "餐饮": "餐饮业,食品餐饮",
                 "能源": "电力,新能源,能源化工"},
    "source": {"展会": "展览会,会展", "转介绍": "介绍,推荐,老客户介绍", "线上推广": "网络推广,广告,网络广告",
               "电话营销": "电销,电话推广", "官网咨询": "官网,网站,网站咨询", "合作伙伴": "渠道,合作方,代理商"},
}


def seed_choices():
    """Insert the default list entries that are missing, and their synonyms where an entry has none
    yet (idempotent: an admin's own synonyms are kept)."""
    with db.atomic():
        for kind, entries in LISTS.items():
            for position, (name, code) in enumerate(entries):
                aliases = ALIASES.get(kind, {}).get(name)
                choice, created = Choice.get_or_create(kind=kind, name=name,
                                                       defaults={"code": code, "position": position, "aliases": aliases})
                if not created and choice.aliases is None and aliases:
                    Choice.update(aliases=aliases).where(Choice.id == choice.id).execute()
