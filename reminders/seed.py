"""The two reminder rules of the issue, for the demo and `run.py reminders --seed`:

    流失风险  -> 联系客户 within 30 days of getting the tag (any follow-up counts)
    高价值    -> 上门拜访 every 90 days (a follow-up of method 拜访 counts)
"""
from models import ReminderRule, Tag, db

SEEDED = [
    ("流失风险：30天内联系", "流失风险", "联系客户", "within", 30, None,
     "客户带上“流失风险”标签后 30 天内联系一次（任何跟进方式均可）"),
    ("高价值：每季度拜访", "高价值", "上门拜访", "every", 90, "拜访",
     "“高价值”客户每 90 天上门拜访一次（跟进方式为“拜访”的记录才算）"),
]


def seed_rules(enabled=True):
    """Create the seeded rules that are missing (and their tags, as rule tags of category 价值, where the library
    has none of that name); returns the rules created."""
    created = []
    with db.atomic():
        for name, tag_name, action, kind, days, method, description in SEEDED:
            if ReminderRule.select().where(ReminderRule.name == name).exists():
                continue
            tag, _ = Tag.get_or_create(name=tag_name, defaults={"category": "价值", "source": "rule"})
            created.append(ReminderRule.create(name=name, tag=tag, action=action, kind=kind, days=days, method=method,
                                               enabled=enabled, description=description, updated_by="system"))
    return created
