"""The scan as text for people and JSON for machines (`run.py quality`)."""
import json

from . import findings as registry
from .scan import context, findings_for, scan


def summary(user=None, today=None, stale_days=None):
    """{"today", "user", "stale_days", "findings": [{key, label, group, model, count}], "pending": [keys]}."""
    ctx = context(today, stale_days)
    counts = scan(user, ctx.today, ctx.stale_days)
    groups = dict(registry.GROUPS)
    return {
        "today": ctx.today.isoformat(),
        "user": getattr(user, "username", None),
        "stale_days": ctx.stale_days,
        "findings": [{"key": item.key, "label": item.label, "group": groups[item.group], "model": item.policy_key,
                      "count": counts[item.key]} for item in findings_for(user)],
        "pending": [item.key for item in registry.pending()],
    }


def as_json(data):
    return json.dumps(data, ensure_ascii=False, indent=2)


def as_text(data):
    width = max((len(f["label"]) for f in data["findings"]), default=0)
    scope = f"，{data['user']} 的数据范围" if data["user"] else "，全部记录"
    lines = [f"数据质量扫描 {data['today']}{scope}（长期未更新：超过 {data['stale_days']} 天）"]
    for f in data["findings"]:
        lines.append(f"  {f['label']}{'　' * (width - len(f['label']))}  {f['count']:>9,}  {f['key']}")
    lines.append(f"  合计{'　' * (width - 2)}  {sum(f['count'] for f in data['findings']):>9,}")
    for key in data["pending"]:
        lines.append(f"  （{registry.get(key).label}：待接入，{key}）")
    return "\n".join(lines)
