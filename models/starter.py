"""The managed lists a new installation starts with (admins edit them afterwards)."""
from .base import db
from .customers import Choice

REGIONS = [("华北", "HB"), ("华东", "HD"), ("华南", "HN"), ("华中", "HZ"), ("西南", "XN"), ("西北", "XB"), ("东北", "DB")]
INDUSTRIES = [("互联网", "IT"), ("制造", "ZZ"), ("零售", "LS"), ("金融", "JR"), ("教育", "JY"), ("医疗", "YL"),
              ("物流", "WL"), ("房地产", "FC"), ("餐饮", "CY"), ("能源", "NY")]
SOURCES = [("展会", "ZH"), ("转介绍", "ZJ"), ("线上推广", "XS"), ("电话营销", "DH"), ("官网咨询", "GW"), ("合作伙伴", "HZ")]

LISTS = {"region": REGIONS, "industry": INDUSTRIES, "source": SOURCES}


def seed_choices():
    """Insert the default list entries that are missing (idempotent)."""
    with db.atomic():
        for kind, entries in LISTS.items():
            for position, (name, code) in enumerate(entries):
                Choice.get_or_create(kind=kind, name=name, defaults={"code": code, "position": position})
