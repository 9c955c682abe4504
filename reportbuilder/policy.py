"""What the access policy lets a grant use in the builder (policy key `customreport`).

- `customreport` view: the 自定义报表 screen and running reports (also needs `customer` view);
  create: saving reports; delete: deleting one's own; export: the result as CSV (audited with its row count).
- a dimension or measure is offered only when the grant may view every policy key it reads and sees its
  columns: in clear for a dimension (grouping by a masked value would show it), at all for a measure.  客服专员's
  default rules hide order amounts and LTV, so 消费额, 客单价 and LTV are neither offered nor computed for it;
  a spec that asks for them anyway is refused (reportbuilder.spec).

grant None is the system (CLI, a run without a user): everything.
"""
from .catalog import DIMENSIONS, MEASURES

POLICY_KEY = "customreport"


def may_use(grant):
    return grant is None or (grant.can(POLICY_KEY, "view") and grant.can("customer", "view"))


def may(grant, action):
    return grant is None or (may_use(grant) and grant.can(POLICY_KEY, action))


def _reads_clear(grant, reads):
    return grant is None or all(grant.can(key, "view") and grant.clear(key, column) for key, column in reads)


def _reads_visible(grant, reads):
    return grant is None or all(grant.can(key, "view") and grant.visible(key, column) for key, column in reads)


def dimensions(grant):
    """The dimensions `grant` may group by, in the registry's order."""
    return [d for d in DIMENSIONS.values() if _reads_clear(grant, d.reads)]


def measures(grant):
    """The measures `grant` may see, in the registry's order."""
    return [m for m in MEASURES.values() if _reads_visible(grant, m.reads)]
