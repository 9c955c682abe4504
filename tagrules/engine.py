"""Applying tag rules: episodes opened and closed, then the rule tags of customers brought in line, all
set-based and per rule in one transaction.

For one rule on day D (optionally only for some customers, after a change to them):

    -- 1. a customer who matches and has no open episode gets the next one (n = their episodes so far + 1)
    INSERT INTO tag_rule_episode (rule_id, customer_id, episode, applied_at, applied_on, applied_by)
      SELECT ?, c.id, (SELECT COALESCE(MAX(e.episode), 0) + 1 FROM tag_rule_episode e
                       WHERE e.rule_id = ? AND e.customer_id = c.id), ?, ?, ?
      FROM customer c WHERE <matches on D> AND c.id NOT IN (<open episodes of the rule>)
      ON CONFLICT DO NOTHING;                                   -- the unique key (rule, customer, episode)
    -- 2. an open episode of a customer who no longer matches is closed
    UPDATE tag_rule_episode SET removed_at = ?, removed_on = ?, removed_by = ?
      WHERE rule_id = ? AND removed_at IS NULL AND customer_id NOT IN (<matches on D>);
    -- 3. the rule's tag: a row (source rule) where a customer has an open episode of an enabled rule of the
    --    tag and no row of the tag at all; rule rows of customers without one go.  Manual rows: never touched.
    INSERT INTO customer_tag ... SELECT ... WHERE id IN (<carriers>) AND id NOT IN (<rows of the tag>) ON CONFLICT DO NOTHING;
    DELETE FROM customer_tag WHERE tag_id = ? AND source = 'rule' AND customer_id NOT IN (<carriers>);

Why this cannot fire twice: the state is read from the data, not from a watermark.  A retried or
repeated run finds the episodes already open (nothing to insert) or closed (nothing to update); a run that
crashed rolled its rule back and the next one does it whole; two workers at once take turns per rule (the
SQLite write lock; a transaction-scoped advisory lock on PostgreSQL), and should two inserts of the same
episode still meet, the unique key keeps one.  A customer who starts matching late is caught by the
next evaluation whatever happened before, since every evaluation compares all (or the changed) customers.

A rule whose tag is retired is skipped (its customers keep their rows, as for manual tags).  A disabled rule
matches nobody: its open episodes close and its tag leaves customers no other enabled rule of the tag keeps.
"""
import datetime
import json
import logging
from dataclasses import dataclass

from peewee import Value, fn

from models import AuditLog, Customer, CustomerTag, Tag, TagRule, TagRuleEpisode, db, is_sqlite

from . import conditions, metrics

log = logging.getLogger("tagrules")


@dataclass
class Result:
    rule_id: int
    rule: str
    tag: str
    applied: int = 0  # episodes opened
    removed: int = 0  # episodes closed
    tagged: int = 0  # customer_tag rows added (source rule)
    untagged: int = 0  # customer_tag rows removed (source rule)
    skipped: str = ""  # why the rule was not evaluated: "retired" (its tag), or 条件无效：… (its condition)

    @property
    def changed(self):
        return bool(self.applied or self.removed or self.tagged or self.untagged)


def day_of(as_of, today=None, within=None):
    """metrics.Day for `as_of`; the customers' current fields are theirs on that day unless it is before `today`."""
    return metrics.Day(as_of, live=today is None or as_of >= today, within=within)


def matching(tree, day, within=None):
    """A query of the ids of the customers the checked condition `tree` matches on `day`, optionally only
    among `within` (ids or a query of ids)."""
    query = Customer.select(Customer.id).where(metrics.existing(day) & conditions.compile(tree, day))
    if within is not None:
        query = query.where(Customer.id.in_(within))
    return query


def evaluate(as_of, today=None, rules=None, customer_ids=None, trigger="sweep", now=None):
    """Apply `rules` (TagRule rows or ids; default every rule) on day `as_of`, to every customer or only to
    `customer_ids` (ids, or a query of ids); one transaction per rule.  Returns a Result per rule."""
    now = now or datetime.datetime.now()
    if rules is None:
        ids = [r.id for r in TagRule.select(TagRule.id).order_by(TagRule.id)]
    else:
        ids = [getattr(r, "id", r) for r in rules]
    if customer_ids is None or hasattr(customer_ids, "sql"):  # every customer, or a query of ids
        within = customer_ids
    else:
        within = sorted({int(i) for i in customer_ids})
        if not within:
            return []
    day = day_of(as_of, today, within)
    results = []
    for rule_id in ids:
        result = apply_rule(rule_id, day, within, trigger, now)
        if result is not None:
            results.append(result)
    return results


def apply_rule(rule_id, day, within, trigger, now):
    """One rule, one transaction (see the module's docstring); None if the rule is gone."""
    with db.atomic():
        if not is_sqlite():
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tagrule:{rule_id}",))
        rule = TagRule.select(TagRule, Tag).join(Tag).where(TagRule.id == rule_id).first()
        if rule is None:
            return None
        result = Result(rule.id, rule.name, rule.tag.name)
        if rule.tag.retired_at is not None:
            result.skipped = "retired"
            return result
        if rule.tag.source != "rule":  # the library made it a manual tag since: rules leave it to people
            result.skipped = f"“{rule.tag.name}”已改为手动标签"
            return result
        try:
            tree = conditions.parse(rule.condition)
        except conditions.Invalid as invalid:  # e.g. a metric since removed from the registry: skip, say why
            log.error("标签规则“%s”的条件无效，已跳过：%s", rule.name, invalid)
            result.skipped = f"条件无效：{invalid}"
            return result
        target = matching(tree, day, within) if rule.enabled else None
        result.applied = _open(rule, target, day, trigger, now) if target is not None else 0
        result.removed = _close(rule.id, target, within, day, trigger, now)
        result.tagged, result.untagged = sync_tag(rule.tag_id, within, now)
        if result.changed:
            _audit(rule, result, day, trigger, now, within)
    if result.changed:
        log.info("标签规则“%s”：新增 %s，移除 %s（%s）", rule.name, result.applied, result.removed, trigger)
    return result


def _open(rule, target, day, trigger, now):
    Episode, Prior = TagRuleEpisode, TagRuleEpisode.alias()
    next_no = (Prior.select(fn.COALESCE(fn.MAX(Prior.episode), 0) + 1)
               .where((Prior.rule == rule.id) & (Prior.customer == Customer.id)))
    open_ = Episode.select(Episode.customer).where((Episode.rule == rule.id) & Episode.removed_at.is_null())
    if day.within is not None:
        open_ = open_.where(day.only(Episode.customer))
    source = (Customer.select(Value(rule.id), Customer.id, next_no, Value(now), Value(day.as_of), Value(trigger))
              .where(Customer.id.in_(target) & Customer.id.not_in(open_)))
    return (Episode.insert_from(source, [Episode.rule, Episode.customer, Episode.episode, Episode.applied_at,
                                         Episode.applied_on, Episode.applied_by])
            .on_conflict_ignore().as_rowcount().execute())


def _close(rule_id, target, within, day, trigger, now):
    Episode = TagRuleEpisode
    where = (Episode.rule == rule_id) & Episode.removed_at.is_null()
    if target is not None:
        where &= Episode.customer.not_in(target)
    if within is not None:
        where &= Episode.customer.in_(within)
    return Episode.update(removed_at=now, removed_on=day.as_of, removed_by=trigger).where(where).execute()


def carriers(tag_id, within=None):
    """Ids of the customers an enabled rule of the tag holds (an open episode), optionally among `within`."""
    Episode = TagRuleEpisode
    query = (Episode.select(Episode.customer).join(TagRule, on=(Episode.rule == TagRule.id))
             .where((TagRule.tag == tag_id) & (TagRule.enabled == True) & Episode.removed_at.is_null()))  # noqa: E712
    return query if within is None else query.where(Episode.customer.in_(within))


def sync_tag(tag_id, within=None, now=None):
    """Bring the rule rows of tag `tag_id` in line with the open episodes of its rules; manual rows stay.
    Returns (rows added, rows removed)."""
    now = now or datetime.datetime.now()
    held = carriers(tag_id, within)
    rows = CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == tag_id)
    if within is not None:
        rows = rows.where(CustomerTag.customer.in_(within))
    gaining = Customer.select(Customer.id, Value(tag_id), Value("rule"), Value(now)).where(
        Customer.id.in_(held) & Customer.id.not_in(rows))
    losing = (CustomerTag.tag == tag_id) & (CustomerTag.source == "rule") & CustomerTag.customer.not_in(held)
    if within is not None:
        gaining = gaining.where(Customer.id.in_(within))
        losing &= CustomerTag.customer.in_(within)
    added = (CustomerTag.insert_from(gaining, [CustomerTag.customer, CustomerTag.tag, CustomerTag.source,
                                               CustomerTag.created_at])
             .on_conflict_ignore().as_rowcount().execute())
    removed = CustomerTag.delete().where(losing).execute()
    return added, removed


def close_all(rule_id, trigger, now=None, as_of=None):
    """Close every open episode of a rule (it is being deleted or moved to another tag); returns how many."""
    now = now or datetime.datetime.now()
    day = metrics.Day(as_of or now.date())
    return _close(rule_id, None, None, day, trigger, now)


def _audit(rule, result, day, trigger, now, within):
    changes = {"rule": rule.name, "tag": rule.tag.name, "applied": result.applied, "removed": result.removed,
               "tagged": result.tagged, "untagged": result.untagged, "as_of": day.as_of.isoformat(),
               "trigger": trigger}
    if isinstance(within, list):
        changes["customers"] = within[:50]
    AuditLog.create(at=now, username="system", action="rule-apply", model="tagrule", record_id=str(rule.id),
                    changes=json.dumps(changes, ensure_ascii=False), rows=result.applied + result.removed)
