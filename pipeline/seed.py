"""The transitions of issue 11 (part 4), created by init-db where missing (`seed_transitions`).

    首次下单成交    潜在客户、意向客户 → 成交客户   first order after entering the status
    180天未下单流失  成交客户 → 流失客户          180 days without an order
    报价待成交       潜在客户、意向客户 → 标签 待成交  a follow-up whose result is 已报价; off again on leaving
    流失客户回购     流失客户 → 成交客户          an order after churning (created disabled)
"""
import json

from models import PipelineTransition, Tag, db

PENDING_TAG = "待成交"

SEEDED = [
    ("首次下单成交", "first_order", "潜在客户,意向客户", "成交客户", None, {}, True, 10),
    ("180天未下单流失", "no_order", "成交客户", "流失客户", None, {"days": 180}, True, 20),
    ("报价待成交", "followup_result", "潜在客户,意向客户", None, PENDING_TAG, {"results": ["已报价"]}, True, 30),
    ("流失客户回购", "first_order", "流失客户", "成交客户", None, {}, False, 40),
]


def seed_transitions():
    """Create the seeded transitions (and the rule tag 待成交) whose names are missing; returns those created.
    `run.py pipeline --seed` and the demo call it; init-db does not, so a new installation decides."""
    created = []
    with db.atomic():
        for name, trigger, statuses, to_status, tag_name, params, enabled, position in SEEDED:
            if PipelineTransition.select().where(PipelineTransition.name == name).exists():
                continue
            tag = None
            if tag_name:
                tag, _ = Tag.get_or_create(name=tag_name, defaults={"category": "行为", "source": "rule"})
            created.append(PipelineTransition.create(
                name=name, trigger=trigger, from_statuses=statuses, to_status=to_status, to_tag=tag,
                params=json.dumps(params, ensure_ascii=False) if params else None, enabled=enabled,
                position=position))
    return created
