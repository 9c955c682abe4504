"""A saved report as a report of the registry (`custom`, reportbuilder/report.ipynb), so it can be run and
subscribed like the analysis notebooks: same 报表订阅 screen, schedules and per-recipient scope.

The runner hands the kernel the recipient's scope (owner_ids, suppress_below) and role (viewer_role); the
report is computed as that recipient: their rows, and only the measures their role may see (a measure they
may not see is left out and the report says so, rather than failing the whole delivery).  Groups of fewer
than suppress_below customers show "—", as in the other reports of scoped runs.
"""
import dataclasses
import datetime
from dataclasses import dataclass

from models import SavedReport

from . import policy
from .compute import run
from .spec import SpecError, parse

REPORT_NAME = "custom"
SUPPRESSED = "—"


@dataclass
class Delivered:
    report: object  # SavedReport
    result: object  # compute.Result
    left_out: list  # labels of measures the viewer may not see
    suppressed: int  # rows whose figures are hidden
    suppressed_rows: list = dataclasses.field(default_factory=list)  # their numbers in result.rows


def grant_of(viewer_role):
    """The grant of the role the run is for; None (the system) when there is none."""
    if viewer_role in (None, ""):
        return None
    from access.policy import grant_for_role

    grant = grant_for_role(viewer_role)
    if grant is None:
        raise SpecError([f"角色“{viewer_role}”不存在，无法按其权限计算报表"])
    return grant


def compute(report_id, viewer_role=None, owner_ids=None, as_of=None, suppress_below=0):
    """The saved report `report_id` computed for a viewer of role `viewer_role` over `owner_ids`' customers, for
    the day `as_of` (its period counted back from it); SpecError when it cannot run."""
    report = SavedReport.get_or_none(SavedReport.id == report_id)
    if report is None:
        raise SpecError([f"自定义报表（编号 {report_id}）不存在或已被删除"])
    grant = grant_of(viewer_role)
    if not policy.may_use(grant):
        raise SpecError(["收件人的角色不能使用自定义报表"])
    data = report.spec_dict
    offered = {m.key for m in policy.measures(grant)}
    from .catalog import MEASURES

    asked = [key for key in data.get("measures") or [] if key in MEASURES]
    left_out = [MEASURES[key].label for key in asked if key not in offered]
    data = {**data, "measures": [key for key in asked if key in offered]}
    if not data["measures"]:
        raise SpecError([f"收件人的角色不能查看本报表的任何指标（{'、'.join(left_out)}）"])
    spec = parse(data, grant, as_of or datetime.date.today())
    result = run(spec, owner_ids)
    suppressed = _suppress(result, spec, owner_ids, suppress_below)
    return Delivered(report, result, left_out, len(suppressed), suppressed)


def _suppress(result, spec, owner_ids, suppress_below):
    """Hide the figures of groups with fewer than `suppress_below` customers (never in a per-customer list, which
    shows customers by design, as the value report's top list does)."""
    if not suppress_below or any(d.needs_limit for d in spec.dimensions):
        return []
    counts = run(dataclasses.replace(spec, measures=("customers",)), owner_ids)
    width = len(spec.rows)
    small = {row[:width] for row in counts.rows if (row[width] or 0) < suppress_below}
    hidden = []
    for number, row in enumerate(result.rows):
        if row[:width] in small:
            result.rows[number] = row[:width] + (None,) * (len(row) - width)
            hidden.append(number)
    return hidden


def detail_rows(delivered, owner_ids=None, column_access=None):
    """The underlying rows (reportbuilder.detail) of a delivered report, for the same recipient: their scope and
    customer column rules, the customers of the groups the report shows (none of a suppressed group's)."""
    from . import detail

    result = delivered.result
    return detail.fetch(result.spec, owner_ids, column_access, detail.shown_groups(result, delivered.suppressed_rows))


def summary(delivered, most=20):
    """{label: text} of the first rows, for the mail's key numbers (SUMMARY=)."""
    result = delivered.result
    width = len(result.spec.rows)
    found = {}
    for row, shown in zip(result.rows[:most], result.formatted_rows()[:most]):
        label = " / ".join(shown[:width])
        found[label] = "，".join(f"{name} {text}" for name, text in zip(result.columns[width:], shown[width:]))
    return found
