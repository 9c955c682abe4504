"""The demo's tag rules (they replace the tags the generator used to hard-code).

    高价值      近365天订单金额 ≥ 100,000
    流失风险    60 天没有跟进也没有下单（且认识满 60 天）
    近30天下单  近30天订单数 ≥ 1
"""
import json

from models import Tag, TagRule, db

SEEDED = [
    ("高价值：近365天订单金额≥10万", "高价值", "价值",
     {"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000}]}),
    ("流失风险：60天无跟进且无下单", "流失风险", "价值",
     {"all": [{"metric": "days_since_followup", "op": ">=", "value": 60},
              {"metric": "days_since_order", "op": ">=", "value": 60},
              {"metric": "customer_age", "op": ">=", "value": 60}]}),
    ("近30天下单", "近30天下单", "行为",
     {"all": [{"metric": "order_count", "days": 30, "op": ">=", "value": 1}]}),
]


def seed_rules(enabled=True):
    """Create the seeded rules (and their rule tags) that are missing; a tag of the same name that people
    apply by hand (source manual) is left alone and its rule not created.  Returns the rules created."""
    created = []
    with db.atomic():
        for name, tag_name, category, condition in SEEDED:
            if TagRule.select().where(TagRule.name == name).exists():
                continue
            tag, _ = Tag.get_or_create(name=tag_name, defaults={"category": category, "source": "rule"})
            if tag.source != "rule":
                continue
            created.append(TagRule.create(name=name, tag=tag, condition=json.dumps(condition, ensure_ascii=False),
                                          enabled=enabled, updated_by="system"))
    return created
