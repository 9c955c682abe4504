"""The tag library: looking a tag up by the name a person typed or picked, with a message for each way
that can go wrong, and the tags a screen offers.

    library.resolve("价格敏感", "tag")   # -> Tag, or Refused("标签“价格敏感”已停用，不能再添加")
    library.offered("tag")             # manual tags in use, by category: what the batch form lists
"""
from models import Tag
from models.activity import TAG_CATEGORIES

LIMIT = 10  # a customer with more tags than this is flagged: tags stop meaning anything
NAME_MAX = Tag.name.max_length
OPERATIONS = {"tag": "添加", "untag": "移除"}


class Refused(Exception):
    """A tagging request that may not run; the message is for the person who asked, nothing changed."""


class Changed(Refused):
    """The customers matching a confirmed request are no longer the number the user confirmed."""


def resolve(name, operation):
    """The Tag called `name` that `operation` ("tag" or "untag") may use by hand, or Refused."""
    if operation not in OPERATIONS:
        raise Refused("未知的标签操作")
    name = (name or "").strip()
    if not name:
        raise Refused("请选择标签")
    if len(name) > NAME_MAX:
        raise Refused(f"标签名称过长：最多 {NAME_MAX} 个字符")
    tag = Tag.get_or_none(Tag.name == name)
    if tag is None:
        raise Refused(f"标签“{name}”不存在，请先在标签库中新建")
    if tag.source != "manual":
        raise Refused(f"“{name}”是规则标签，由标签规则自动添加和移除，不能手动{OPERATIONS[operation]}")
    if operation == "tag" and tag.retired_at is not None:
        raise Refused(f"标签“{name}”已停用，不能再添加（可在“标签使用情况”中恢复）")
    return tag


def offered(operation):
    """[(category, [(tag name, retired)])] a person may pick for `operation`: manual tags, in use ones only
    for adding (a retired tag may still be taken off customers)."""
    query = Tag.select(Tag.name, Tag.category, Tag.retired_at).where(Tag.source == "manual")
    if operation == "tag":
        query = query.where(Tag.retired_at.is_null())
    by_category = {}
    for tag in query.order_by(Tag.name):
        by_category.setdefault(tag.category, []).append((tag.name, tag.retired_at is not None))
    order = [c for c, _ in TAG_CATEGORIES]
    return sorted(by_category.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def filter_options():
    """(name, label) of every tag, for the list's tag filters (values are names, which are unique and what
    people type into the tags box); retired tags stay filterable."""
    order = [c for c, _ in TAG_CATEGORIES]
    rows = sorted(Tag.select(Tag.name, Tag.category, Tag.retired_at),
                  key=lambda t: (order.index(t.category) if t.category in order else len(order), t.name))
    return [(t.name, f"{t.name}（已停用）" if t.retired_at else t.name) for t in rows]


def parse_names(text):
    """Tag ids from a filter value such as "价格敏感,高价值": a sorted list of distinct ids, or None when any
    part is not the name of a tag (a tampered URL, or text typed into the tags box)."""
    parts = {p.strip() for p in str(text or "").split(",") if p.strip()}
    if not parts or any(len(p) > NAME_MAX for p in parts):
        return None
    ids = sorted(t.id for t in Tag.select(Tag.id).where(Tag.name.in_(sorted(parts))))
    return ids if len(ids) == len(parts) else None


def names(ids):
    """{id: name} of the given tag ids."""
    return {t.id: t.name for t in Tag.select(Tag.id, Tag.name).where(Tag.id.in_(list(ids)))} if ids else {}
