"""Checks of a transition before it is saved (the admin's 状态流转 form), with messages for the person who
typed it.  Saving and auditing are the admin's (PolicyModelView: create/update/delete audit rows)."""
import json

from models import PipelineTransition, Tag, TagRule
from models.customers import STATUSES

from . import engine, triggers

STATUSES_NAMES = [name for name, _ in STATUSES]


def check(transition):
    """Raise triggers.Invalid unless `transition` (a PipelineTransition, saved or not) can run; normalises its
    from-statuses and params in place."""
    if not (transition.name or "").strip():
        raise triggers.Invalid("请填写名称")
    kind = triggers.get(transition.trigger)
    statuses = [s.strip() for s in (transition.from_statuses or "").replace("，", ",").replace("、", ",").split(",")
                if s.strip()]
    bad = [s for s in statuses if s not in STATUSES_NAMES]
    if bad:
        raise triggers.Invalid(f"起始状态“{bad[0][:20]}”无效，可选：{'、'.join(STATUSES_NAMES)}（多个用逗号分隔）")
    transition.from_statuses = ",".join(dict.fromkeys(statuses)) or None
    params = triggers.parse_params(kind, transition.params)
    transition.params = json.dumps(params, ensure_ascii=False) if params else None
    engine.check_target(transition, kind)
    if kind.target == "tag":
        tag = Tag.get_or_none(Tag.id == transition.to_tag_id)
        if tag is None:
            raise triggers.Invalid("目标标签不存在")
        if tag.source != "rule":
            raise triggers.Invalid(f"“{tag.name}”是手动标签；状态流转只能使用来源为“规则”的标签")
        if tag.retired_at is not None:
            raise triggers.Invalid(f"标签“{tag.name}”已停用，不能使用")
        if TagRule.select().where(TagRule.tag == tag.id).exists():
            raise triggers.Invalid(f"标签“{tag.name}”已由标签规则维护，请为状态流转使用另一个规则标签")
    return transition


__all__ = ["check", "PipelineTransition"]
