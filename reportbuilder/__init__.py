"""The custom report builder (自定义报表), never imports Flask.

- catalog: the registries of dimensions and measures, each declaring the policy columns it reads;
- policy: what a grant is offered (policy key `customreport`; measures on hidden columns are not offered);
- spec: a report as data (rows, measures, period, filters, chart, limit), checked with Chinese messages;
- compute: the spec as one grouped statement on the analytics engine, in the viewer's row scope;
- charts: the chart that suits a result, for ECharts on the screen and as a PNG for mails;
- saved / templates: saved reports (owned, shared or private, audited) and the quick reports shipped as data;
- delivery: a saved report run as a report of the registry (`custom`), so it can be subscribed.

    spec = reportbuilder.parse({"rows": ["industry"], "measures": ["customers"]}, grant, today)
    result = reportbuilder.run(spec, owners=access.owner_ids(user, grant))
"""
from . import policy
from .catalog import DIMENSIONS, MEASURES
from .compute import Result, format_value, run
from .spec import PERIODS, Spec, SpecError, parse

__all__ = ["DIMENSIONS", "MEASURES", "PERIODS", "Result", "Spec", "SpecError", "format_value", "parse", "policy",
           "run"]
