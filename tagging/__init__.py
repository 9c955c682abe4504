"""Tags on customers (issue 11, part 1): the library's lookups, batch tag and untag, the conditions
behind the list's tag filters, the usage review and retiring a tag.  Never imports Flask.

    import tagging
    tagging.tag("价格敏感", user, ids=[3, 5])                       # the selected customers
    tagging.tag("价格敏感", user, matching=query, dry_run=True)     # every customer of a list query: counts only
    tagging.untag("价格敏感", user, matching=query, expected=120)  # refused if the count moved since it was shown
    Customer.select().where(tagging.all_of([vip_id, price_id]))   # also any_of, none_of, more_than
    tagging.usage(user, today=day)                                 # per tag: customers, manual/rule, last applied
    tagging.retire(tag_id, user) / tagging.restore(tag_id, user)   # audited

Every entry point that takes a user asks `access` for the grant and the row scope (tagging.policy
says which permissions); user=None is the system.  See docs/tags.md.
"""
from .batch import MAX_SELECTED, Outcome, tag, untag
from .conditions import all_of, any_of, more_than, none_of
from .library import LIMIT, NAME_MAX, Changed, Refused, filter_options, names, offered, parse_names, resolve
from .policy import may, may_retire, may_review, may_see
from .review import RECENT_DAYS, crowded, restore, retire, tags_of, usage

__all__ = ["Changed", "LIMIT", "MAX_SELECTED", "NAME_MAX", "Outcome", "RECENT_DAYS", "Refused", "all_of", "any_of",
           "crowded", "filter_options", "may", "may_retire", "may_review", "may_see", "more_than", "names",
           "none_of", "offered", "parse_names", "resolve", "restore", "retire", "tag", "tags_of", "untag", "usage"]
