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

At scale (bench/daily.py, 1M customers / 10M orders): a full sweep (and a check of an import or of more than
QUICK_MAX customers) first computes the per-customer figures every rule compares, once, in one temporary
table (tagrules.figures: one grouped pass per records table), and each rule reads it instead of running its
own subqueries; it keeps each rule's matching customers in a temporary table for its transaction (keep()), so the condition runs once for both the episodes to open and
those to close; on PostgreSQL every rule's transaction raises work_mem (room_for_sets()), without which
`NOT IN (subquery)` over hundreds of thousands of ids loses its hashed plan and never finishes.  The check
after a change to a few customers (_evaluate_quickly) asks once which rules match them, which episodes they
have open and which tag rows they carry, and sends only the rules whose state would change through
apply_rule, with the matches it already knows.

A rule whose tag is retired is skipped (its customers keep their rows, as for manual tags).  A disabled rule
matches nobody: its open episodes close and its tag leaves customers no other enabled rule of the tag keeps.
"""
import datetime
import json
import logging
from dataclasses import dataclass

from peewee import JOIN, SQL, Case, Table, Value, fn

from models import AuditLog, Customer, CustomerTag, Tag, TagRule, TagRuleEpisode, db, is_sqlite

from . import conditions, figures as figures_, metrics
from .figures import temp_name
from .metrics import in_, not_in

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


def matching(tree, day, within=None, figures=None):
    """A query of the ids of the customers the checked condition `tree` matches on `day`, optionally only
    among `within` (ids or a query of ids).  With `figures` (tagrules.figures, built for the day) the
    comparisons it holds read its columns, joined on the customer's id, instead of their own subqueries."""
    query = Customer.select(Customer.id)
    joined = figures is not None and figures.serves(tree, day)
    if joined:
        table = figures.table
        query = query.join(table, on=(table.id == Customer.id))
        condition = conditions.compile(tree, day, figures)
    else:
        condition = conditions.compile(tree, day)
    query = query.where(metrics.existing(day) & condition)
    if within is not None and not (joined and figures.within is within):  # the figures hold only `within`
        query = query.where(in_(Customer.id, within))
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
    if isinstance(within, list) and len(within) <= QUICK_MAX:
        return _evaluate_quickly(ids, day, within, trigger, now)
    figures = _figures(ids, day, within)
    results = []
    try:
        for rule_id in ids:
            result = apply_rule(rule_id, day, within, trigger, now, figures=figures)
            if result is not None:
                results.append(result)
    finally:
        if figures is not None:
            figures.drop()
    return results


def _figures(ids, day, within):
    """The per-customer figures every rule of `ids` that will be evaluated needs on `day` (tagrules.figures),
    built once for the sweep in a read transaction of its own (deferred on SQLite: no write lock while it is
    built); None when no rule compares an aggregate.  A rule edited in between still gives the right
    answer: a comparison whose figure is missing compiles to its own subquery."""
    trees = []
    for rule in (TagRule.select(TagRule, Tag).join(Tag)
                 .where(TagRule.id.in_(ids) & (TagRule.enabled == True))):  # noqa: E712
        if rule.tag.retired_at is not None or rule.tag.source != "rule":
            continue
        try:
            trees.append(conditions.parse(rule.condition))
        except conditions.Invalid:
            continue  # apply_rule says why and skips it
    if not trees:
        return None
    with (db.atomic("DEFERRED") if is_sqlite() else db.atomic()):
        room_for_sets()
        return figures_.build(trees, [day], within)


QUICK_MAX = 100  # customers a check after a change asks about at once with one query per state


def _evaluate_quickly(ids, day, within, trigger, now):
    """The check after a change to a few customers: one query says which rules match them, one which
    episodes they have open, one which tag rows they carry; only a rule whose episodes or tag rows would
    change (and the other rules of its tag) goes through apply_rule.  The rest are left alone, as apply_rule
    would leave them: twenty rules cost three queries instead of a hundred (bench/daily.py).

    On PostgreSQL the rules' advisory locks are taken first, in one transaction with the reads, as
    apply_rule takes each: a sweep of a rule that is under way is waited for before its state is read."""
    with db.atomic():
        if not is_sqlite() and ids:
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('tagrule:' || r)) "
                           "FROM unnest(%s::int[]) WITH ORDINALITY AS t(r, n) ORDER BY n", (sorted(set(ids)),))
        rules = {r.id: r for r in TagRule.select(TagRule, Tag).join(Tag).where(TagRule.id.in_(ids))}
        trees, plain = {}, set()
        for rule in rules.values():
            if rule.tag.retired_at is not None or rule.tag.source != "rule":
                continue
            try:
                trees[rule.id] = conditions.parse(rule.condition)
            except conditions.Invalid:
                continue  # apply_rule says why and skips it
            plain.add(rule.id)
        matched = _matched(trees, rules, day, within)
        Episode = TagRuleEpisode
        opened = {}
        for rule_id, customer_id in (Episode.select(Episode.rule, Episode.customer)
                                     .where(in_(Episode.customer, within) & Episode.removed_at.is_null()).tuples()):
            opened.setdefault(rule_id, set()).add(customer_id)
        tags = {rules[i].tag_id for i in plain}
        enabled_of_tag = {}
        for rule_id, tag_id, enabled in TagRule.select(TagRule.id, TagRule.tag, TagRule.enabled).where(
                TagRule.tag.in_(list(tags)) if tags else SQL("1 = 0")).tuples():
            if enabled:
                enabled_of_tag.setdefault(tag_id, set()).add(rule_id)
        rows = {}
        for customer_id, tag_id, source in (CustomerTag.select(CustomerTag.customer, CustomerTag.tag, CustomerTag.source)
                                            .where(in_(CustomerTag.customer, within)
                                                   & (CustomerTag.tag.in_(list(tags)) if tags else SQL("1 = 0")))
                                            .tuples()):
            rows.setdefault(tag_id, {})[customer_id] = source
        unsettled = set()  # tags with a rule whose episodes would change, or whose rule rows are out of line
        for rule_id in plain:
            if matched.get(rule_id, set()) != opened.get(rule_id, set()):
                unsettled.add(rules[rule_id].tag_id)
        for tag_id in tags:
            held = set().union(*(opened.get(r, set()) for r in enabled_of_tag.get(tag_id, ())))
            carried = rows.get(tag_id, {})
            if (held - set(carried)) or any(s == "rule" and c not in held for c, s in carried.items()):
                unsettled.add(tag_id)
        results = []
        for rule_id in ids:
            rule = rules.get(rule_id)
            if rule is None:
                continue
            if rule_id in plain and rule.tag_id not in unsettled:
                results.append(Result(rule.id, rule.name, rule.tag.name))
                continue
            known = matched.get(rule_id, set()) if rule_id in plain and rule.enabled else None
            result = apply_rule(rule_id, day, within, trigger, now, known=known)
            if result is not None:
                results.append(result)
    return results


def _matched(trees, rules, day, within):
    """{rule id: ids among `within` the rule matches on `day`} of the enabled rules in `trees`, in one query."""
    enabled = [i for i in trees if rules[i].enabled]
    if not enabled:
        return {}
    sql, params = _matching_sql([(i, rules[i].condition, trees[i]) for i in enabled], day, within)
    out = {}
    for row in db.execute_sql(sql, params).fetchall():
        for rule_id, hit in zip(enabled, row[1:]):
            if hit:
                out.setdefault(rule_id, set()).add(row[0])
    return out


_RENDERED = {}  # (rules and conditions, day, how many customers, backend) -> (sql, params, where the ids go)
_SENTINEL = -(1 << 40)  # stand-in customer ids while rendering: no real id or value is ever one of them


def _matching_sql(conditions_of, day, within):
    """The SQL and parameters of the one query _matched runs.  peewee takes longer to render it (twenty
    conditions, each with its subqueries) than the database takes to answer it for one customer, so the
    text is rendered once per set of rules, day and number of customers, with stand-in ids, and reused
    with the real ids put in their places."""
    key = (tuple((i, text) for i, text, _ in conditions_of), day.as_of, day.live, len(within), is_sqlite())
    cached = _RENDERED.get(key)
    if cached is None:
        stand_in = [_SENTINEL - k for k in range(len(within))]
        probe = metrics.Day(day.as_of, live=day.live, within=stand_in)
        columns = [Case(None, [(metrics.existing(probe) & conditions.compile(tree, probe), 1)], 0).alias(f"r{i}")
                   for i, _, tree in conditions_of]
        sql, params = Customer.select(Customer.id, *columns).where(in_(Customer.id, stand_in)).sql()
        places = {value: n for n, value in enumerate(stand_in)}
        slots = [(position, places[value]) for position, value in enumerate(params)
                 if isinstance(value, int) and value in places]
        if len(_RENDERED) > 64:
            _RENDERED.clear()
        cached = _RENDERED[key] = (sql, list(params), slots)
    sql, params, slots = cached
    params = list(params)
    for position, n in slots:
        params[position] = within[n]
    return sql, params


def apply_rule(rule_id, day, within, trigger, now, known=None, figures=None):
    """One rule, one transaction (see the module's docstring); None if the rule is gone.  `known`: the ids
    among `within` the rule matches, when the caller has just asked in this transaction (the check after a
    change), so the condition is not rendered and run again; `figures`: the sweep's per-customer figures
    (tagrules.figures), which the condition reads instead of its own subqueries."""
    with db.atomic():
        if not is_sqlite():
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tagrule:{rule_id}",))
            room_for_sets()
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
        if not rule.enabled:
            target = None
        elif known is not None:
            target = sorted(known)
        else:
            target = matching(tree, day, within, figures)
        kept = target is not None and within is None and known is None
        if kept:  # a full sweep: the condition is evaluated once, for the episodes to open and to close
            target = keep(target)
        result.applied = _open(rule, target, day, trigger, now) if target is not None else 0
        result.removed = _close(rule.id, target, within, day, trigger, now)
        if kept:
            drop()
        if result.applied + result.removed >= BULK and not is_sqlite():
            db.execute_sql("ANALYZE tag_rule_episode")  # see BULK
        result.tagged, result.untagged = sync_tag(rule.tag_id, within, now)
        if result.tagged + result.untagged >= BULK and not is_sqlite():
            db.execute_sql("ANALYZE customer_tag")
        if result.changed:
            _audit(rule, result, day, trigger, now, within)
    if result.changed:
        log.info("标签规则“%s”：新增 %s，移除 %s（%s）", rule.name, result.applied, result.removed, trigger)
    return result


SET_MEMORY = "256MB"
PAGE_COST = "1.1"


def room_for_sets():
    """PostgreSQL, for the rest of this transaction:
    - work_mem large enough that `x NOT IN (subquery)` over a million customers keeps its hashed plan.  Past
      work_mem (4MB by default) PostgreSQL plans it as a scan of the whole subquery result for every row,
      which at 1M customers / 10M orders never finishes: the customers with an order in the last 60 days
      are already 450,000 ids (bench/daily.py);
    - random_page_cost 1.1, the value PostgreSQL's documentation gives for data in memory or on SSD, instead
      of the default 4.0 priced for spinning disks: at 4.0 the planner hashes a year of orders by customer
      (19 s) rather than read the (customer, ordered_at, amount) index in order into a sorted aggregate
      (6.7 s, 4M of 10M orders, one session).  A server already set lower keeps its value.
    No-op on SQLite."""
    if not is_sqlite():
        db.execute_sql(f"SET LOCAL work_mem = '{SET_MEMORY}'")
        if float(db.execute_sql("SHOW random_page_cost").fetchone()[0]) > float(PAGE_COST):
            db.execute_sql(f"SET LOCAL random_page_cost = {PAGE_COST}")


# PostgreSQL plans the next statements from the tables' statistics, which autovacuum refreshes only a while
# after a bulk change: a first sweep that opens 600,000 episodes would have the tag rows and the next rules
# planned as if the episode table were still empty.  After this many rows changed, ANALYZE at once.
BULK = 10_000


KEPT = "tagrule_target"  # a full sweep's matching customers of one rule, for the rest of its transaction


def keep(query, name=KEPT):
    """The ids of `query` kept in a temporary table `name` (with its key) on this connection, for the rest of
    the transaction; the Table.  Without it a full sweep computed each rule's condition twice, once for the
    episodes to open and once for those to close, and the preview each day's up to four times
    (bench/daily.py).  PostgreSQL plans NOT IN over a large subquery as a row-by-row scan once its hash
    would outgrow work_mem: membership in a kept table is asked with (NOT) EXISTS on its key instead."""
    db.execute_sql(f"DROP TABLE IF EXISTS {temp_name(name)}")
    sql, params = query.sql()
    db.execute_sql(f"CREATE TEMPORARY TABLE {name} AS {sql}", params)
    if is_sqlite():
        db.execute_sql(f"CREATE UNIQUE INDEX temp.{name}_id ON {name} (id)")
    else:
        db.execute_sql(f"ALTER TABLE {temp_name(name)} ADD PRIMARY KEY (id)")
        db.execute_sql(f"ANALYZE {temp_name(name)}")
    return Table(name, ("id",))


def drop(name=KEPT):
    db.execute_sql(f"DROP TABLE IF EXISTS {temp_name(name)}")


def holds(table, column):
    """`column` is among the ids kept in `table` (keep())."""
    return fn.EXISTS(table.select(SQL("1")).where(table.id == column))


def _open(rule, target, day, trigger, now):
    Episode, Prior = TagRuleEpisode, TagRuleEpisode.alias()
    open_ = Episode.select(Episode.customer).where((Episode.rule == rule.id) & Episode.removed_at.is_null())
    if day.within is not None:
        open_ = open_.where(day.only(Episode.customer))
    # Each customer's next episode number from their episodes so far, grouped once and joined.  It was a
    # subquery per inserted row, which PostgreSQL plans as a scan of the whole episode table when its
    # statistics say it is empty (a first sweep after VACUUM): every row then rescanned the table the INSERT
    # was filling, and 流失风险's 622,885 first episodes at 1M customers ran for more than ten minutes.
    prior = Prior.select(Prior.customer.alias("cid"), fn.MAX(Prior.episode).alias("last")).where(Prior.rule == rule.id)
    if day.within is not None:
        prior = prior.where(day.only(Prior.customer))
    prior = prior.group_by(Prior.customer).alias("prior")
    number = fn.COALESCE(prior.c.last, 0) + 1

    if isinstance(target, Table):  # a sweep's kept matches: read from them, not from every customer
        source = (target.select(Value(rule.id), target.id, number, Value(now), Value(day.as_of), Value(trigger))
                  .join(prior, JOIN.LEFT_OUTER, on=(prior.c.cid == target.id))
                  .where(not_in(target.id, open_)).order_by(target.id))  # customer order: see sync_tag
    else:
        source = (Customer.select(Value(rule.id), Customer.id, number, Value(now), Value(day.as_of), Value(trigger))
                  .join(prior, JOIN.LEFT_OUTER, on=(prior.c.cid == Customer.id))
                  .where(in_(Customer.id, target) & not_in(Customer.id, open_)))
    return (Episode.insert_from(source, [Episode.rule, Episode.customer, Episode.episode, Episode.applied_at,
                                         Episode.applied_on, Episode.applied_by])
            .on_conflict_ignore().as_rowcount().execute())


def _close(rule_id, target, within, day, trigger, now):
    Episode = TagRuleEpisode
    where = (Episode.rule == rule_id) & Episode.removed_at.is_null()
    if isinstance(target, Table):
        where &= ~holds(target, Episode.customer)
    elif target is not None:
        where &= not_in(Episode.customer, target)
    if within is not None:
        where &= in_(Episode.customer, within)
    return Episode.update(removed_at=now, removed_on=day.as_of, removed_by=trigger).where(where).execute()


def carriers(tag_id, within=None):
    """Ids of the customers an enabled rule of the tag holds (an open episode), optionally among `within`."""
    Episode = TagRuleEpisode
    query = (Episode.select(Episode.customer).join(TagRule, on=(Episode.rule == TagRule.id))
             .where((TagRule.tag == tag_id) & (TagRule.enabled == True) & Episode.removed_at.is_null()))  # noqa: E712
    return query if within is None else query.where(in_(Episode.customer, within))


def sync_tag(tag_id, within=None, now=None):
    """Bring the rule rows of tag `tag_id` in line with the open episodes of its rules; manual rows stay.
    Returns (rows added, rows removed)."""
    now = now or datetime.datetime.now()
    held = carriers(tag_id, within)
    rows = CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == tag_id)
    if within is not None:
        rows = rows.where(in_(CustomerTag.customer, within))
    # the holders without a row of the tag, read from the open episodes (not from every customer)
    Episode = TagRuleEpisode
    # in customer order: the rows go into customer_tag's indexes (both led by the customer) and past its foreign
    # key checks one customer after the next instead of at random, which at 600,000 rows on PostgreSQL is the
    # difference between walking the indexes once and missing the cache on every row (bench/daily.py)
    gaining = (carriers(tag_id, within).select(Episode.customer, Value(tag_id), Value("rule"), Value(now))
               .where(not_in(Episode.customer, rows)).distinct().order_by(Episode.customer))
    losing = (CustomerTag.tag == tag_id) & (CustomerTag.source == "rule") & not_in(CustomerTag.customer, held)
    if within is not None:
        losing &= in_(CustomerTag.customer, within)
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
