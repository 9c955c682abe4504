"""The underlying rows of a custom report (明细): one row per customer who counts in the result, with the report's
row dimension values and the customer's own figures, as one statement on the engine compute.run uses.

A detail row is what the summary's grouped statement sums, before it is summed: the same scope, filters, period
and joins (compute's pieces), grouped by the customer as well.  So a customer appears as the summary counts them:
once per order month or quarter they ordered in, once per tag they carry, and the sum of 消费额 or 订单数 over a
group's rows is the group's figure.

- Figures: every measure of the report that belongs to one customer (消费额, 订单数, 客单价, LTV) is that customer's
  own.  客户数 and 复购率 belong to a group: 客户数 is the group's number of rows (no column), 复购率 is made of the
  customers' 订单数 (buyers: 1 or more orders, repeaters: 2 or more), which the rows show instead (GROUP_MEASURES).
- Which customers: those the summary counts.  With 客户数 or LTV (averaged over the group's customers) every
  customer in scope of a customer dimension, ordered or not; with order measures only (消费额, 订单数, 客单价, 复购率)
  the customers with orders in the period, the others adding nothing.
- Groups: a report limited to its first N rows (or a run whose small groups are suppressed) lists the customers of
  the groups it shows only (`groups`).
- Columns: 客户编号 and 客户名称 follow the viewer's column rules on `customer` (masked as on every list and export,
  left out when hidden: `column_access`), never a contact or ID column.
- At most MAX_ROWS rows (an Excel sheet holds 1,048,576, and a workbook of a million rows takes minutes to write);
  `total` says how many there are, so a cut list says so (reportbuilder.handout).

    rows = detail.fetch(spec, owners, column_access={"name": "masked"})
    rows.columns -> [("code", "客户编号", "text"), ..., ("revenue", "消费额", "money")]
    rows.rows -> [["A", "客户A", "互联网", 600.0], ...]; rows.total, rows.cut
"""
from dataclasses import dataclass

from peewee import JOIN, SQL, Case, fn

from analytics import engines
from models import Customer

from . import compute
from .catalog import PARTS

MAX_ROWS = 100_000  # rows a detail sheet carries at most
# group measures -> the per-customer measures that make them (shown instead); other measures are per customer
GROUP_MEASURES = {"customers": (), "repeat_rate": ("orders",)}
# measures counted over every customer of a customer dimension, ordered or not (the summary's LEFT JOIN)
EVERY_CUSTOMER = {"customers", "ltv"}
# customer columns a detail row names the customer by, and their headers; the column rules decide each
LABEL_COLUMNS = (("code", "客户编号"), ("name", "客户名称"))
FIGURE_LABELS = {"ltv": "LTV"}  # a customer's own figure where the measure's label names a group's (LTV（平均）)
KEY_SEPARATOR = "\x1f"  # between two dimension labels in a group's key (a character no label holds)


@dataclass
class Detail:
    columns: list  # (key, label, kind): kind text / count / money / percent / number
    rows: list  # lists in column order
    total: int  # rows there are (rows holds the first `cap`)
    cap: int

    @property
    def cut(self):
        return self.total > len(self.rows)


def column_access(grant):
    """{customer column: "masked" / "hidden"} of the label columns `grant` may not read in clear (the runner's
    column_access parameter has the same shape); {} for the system."""
    if grant is None:
        return {}
    return {column: grant.access("customer", column) for column, _ in LABEL_COLUMNS
            if not grant.clear("customer", column)}


def figures(spec):
    """The measures a detail row shows, in the registry's order: the report's per-customer measures and those that
    make its group measures."""
    from .catalog import MEASURES

    wanted = set()
    for key in spec.measures:
        wanted.update(GROUP_MEASURES.get(key, (key,)))
    return [measure for key, measure in MEASURES.items() if key in wanted]


def group_key(labels):
    """The key of a summary row's group: its dimension labels, as the detail statement writes them."""
    return KEY_SEPARATOR.join(labels)


def _shown_label(expression, dimension):
    """The label as compute shows it (an empty or missing one as the dimension's empty label), in SQL."""
    return fn.COALESCE(fn.NULLIF(fn.TRIM(expression), SQL("''")), dimension.empty_label)


def _dimension_order(column, dimension, weight=None):
    """ORDER BY terms for a dimension column, as compute orders the summary's groups: time in order (nothing
    recorded last), statuses and tiers in their order, others by `weight` (the group's first figure), largest first,
    then by label."""
    if dimension.order:
        return [Case(None, [(column == label, number) for number, label in enumerate(dimension.order)],
                     len(dimension.order))]
    if dimension.is_time:
        return [Case(None, [(column.is_null() | (fn.TRIM(column) == ""), 1)], 0), column]
    return ([SQL('"w"').desc()] if weight is not None else []) + [column]


def build(spec, owners, dialect, hide=(), groups=None, cap=MAX_ROWS):
    """The query of `spec`'s detail in `dialect`: columns cid, code, name (unless in `hide`), d0.., the figures'
    parts and total (rows before the cap), ordered and limited to `cap`.  `groups`: keys (group_key) of the
    summary's groups to list, None for all."""
    dimensions, measures = spec.dimensions, spec.measure_list
    shown = figures(spec)
    order_time = next((d for d in dimensions if d.kind == "order_time"), None)
    needs = set().union(*(m.needs for m in measures))
    joins = set().union(*(set(d.joins) for d in dimensions))
    if any("value" in m.needs for m in shown):
        joins.add("value")
    conditions = compute._customer_conditions(spec, owners)
    o = None
    if "orders" in needs or order_time:
        o = compute._orders(spec, dialect, order_time.bucket if order_time else None,
                            compute.scoped_customers(conditions), per_customer=True)
    labels = [(f"d{number}", compute.label_expression(dimension, dialect, o))
              for number, dimension in enumerate(dimensions)]
    part_names = []
    for measure in shown:
        part_names += [p for p in measure.parts if p not in part_names]
    columns = [Customer.id.alias("cid")]
    columns += [getattr(Customer, name).alias(name) for name, _ in LABEL_COLUMNS if name not in hide]
    columns += [expression.alias(name) for name, expression in labels]
    columns += [PARTS[name](o).alias(name) for name in part_names]

    query = Customer.select(*columns)
    if o is not None:
        every = order_time is None and bool(set(spec.measures) & EVERY_CUSTOMER)
        query = query.join(o, JOIN.LEFT_OUTER if every else JOIN.INNER, on=(o.c.cid == Customer.id))
    query = compute.join_tables(query, joins)
    for condition in conditions:
        query = query.where(condition)
    if groups is not None:
        keys = [_shown_label(expression, dimension) for (_, expression), dimension in zip(labels, dimensions)]
        key = keys[0]
        for more in keys[1:]:
            key = key.concat(KEY_SEPARATOR).concat(more)
        query = query.where(key.in_(list(groups)) if groups else SQL("1 = 0"))
    grouping = []
    for dimension, (_, expression) in zip(dimensions, labels):
        grouping += dimension.group_by() if dimension.group_by else [expression]
    grouping += [Customer.id, *[getattr(Customer, name) for name, _ in LABEL_COLUMNS if name not in hide]]
    inner = query.group_by(*grouping).alias("t")

    # Outside the grouping, as windows over the grouped rows: the rows there are (before the cap), and the weight of
    # each first-dimension group by which the summary orders its groups (its first measure: the group's rows for
    # 客户数, else the sum of the first figure).
    first = dimensions[0]
    windows = [fn.COUNT(SQL("*")).over().alias("total")]
    weight = None
    if not (first.order or first.is_time or first.needs_limit):
        partition = [inner.c.d0]
        by_rows = not shown or GROUP_MEASURES.get(spec.measures[0]) == ()
        weight = (fn.COUNT(SQL("*")) if by_rows else fn.SUM(getattr(inner.c, shown[0].parts[0]))).over(
            partition_by=partition)
        windows.append(weight.alias("w"))
    order = []
    for number, dimension in enumerate(dimensions):
        if not dimension.needs_limit:  # a per-customer list is ordered by its figures
            order += _dimension_order(getattr(inner.c, f"d{number}"), dimension, weight if number == 0 else None)
    if shown:
        order.append(getattr(inner.c, shown[0].parts[0]).desc())
    order.append(inner.c.cid)
    return inner.select_from(SQL("*"), *windows).order_by(*order).limit(cap), part_names


def fetch(spec, owners=None, column_access=None, groups=None, cap=None, engine=None):
    """The Detail of `spec` over the customers of `owners` (None: everyone's) for a viewer whose customer column
    rules are `column_access` ({"code"/"name": "masked"/"hidden"}), limited to the summary groups `groups` (keys of
    group_key; None: all), at most `cap` rows (None: MAX_ROWS)."""
    from access.masking import mask

    cap = MAX_ROWS if cap is None else cap
    engine = engine or engines.current()
    column_access = column_access or {}
    hide = {name for name, level in column_access.items() if level == "hidden"}
    query, part_names = build(spec, owners, engine.dialect, hide, groups, cap)
    frame = engine.fetch(query)
    dimensions, shown = spec.dimensions, figures(spec)
    named = [(name, label) for name, label in LABEL_COLUMNS if name not in hide]
    listed = [(number, d) for number, d in enumerate(dimensions) if not d.needs_limit]
    columns = [(name, label, "text") for name, label in named]
    columns += [(f"d{number}", dimension.label, "text") for number, dimension in listed]
    columns += [(measure.key, FIGURE_LABELS.get(measure.key, measure.label), measure.format) for measure in shown]
    masked = {name for name, level in column_access.items() if level == "masked"}
    rows = []
    for record in frame.itertuples(index=False):
        values = record._asdict()
        row = [mask(values[name]) if name in masked else values[name] for name, _ in named]
        row += [compute._label(values[f"d{number}"], dimension) for number, dimension in listed]
        parts = {name: compute._number(values[name]) for name in part_names}
        row += [measure.value(parts) for measure in shown]
        rows.append(row)
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    return Detail(columns=columns, rows=rows, total=total, cap=cap)


def shown_groups(result, leave_out=()):
    """Keys of the summary `result`'s groups a detail lists when it must list only those (a report limited to its
    first N rows, or `leave_out`: rows whose figures were suppressed); None when every group is listed."""
    if not result.spec.limit and not leave_out:
        return None
    width, left = len(result.spec.rows), set(leave_out)
    return [group_key(row[:width]) for number, row in enumerate(result.rows) if number not in left]
