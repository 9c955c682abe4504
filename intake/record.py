"""One record's fields cleaned exactly as an import cleans a file's cells: the kind's field specs
(intake.kinds), each with its models.standardise function, managed list, least value and the range its
column stores (intake.engine._cell_cleaner, the import's own cleaner).  For single-record ways in that are
not files: the REST API's create and update (api/customers.py).

    values, errors = clean_record("customers", {"mobile": "+86 138-1234-5678", "employees": "-3"})
    # values == {"mobile": "13812345678"}
    # errors == [{"field": "employees", "value": "-3", "message": "不能为负数"}]

Fields the kind does not know are the caller's business (they are left out of both answers).
Empty values (None, "", spaces) come back as None: whether a field may be empty is the caller's rule.
"""
from models import standardise

from . import kinds
from .engine import Context, _cell_cleaner


def clean_record(kind_name, data):
    spec = kinds.KINDS[kind_name]
    ctx = Context(spec, user=None, grant=None, allowed=None, key=None, default_owner_id=None, value_maps=None,
                  filename="API", dry_run=False)
    by_name = {field_spec.name: field_spec for field_spec in spec.fields}
    values, errors = {}, []
    for name, raw in data.items():
        field_spec = by_name.get(name)
        if field_spec is None:
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            values[name] = None
            continue
        try:
            values[name] = _cell_cleaner(field_spec, ctx)(raw)
        except standardise.StandardError as error:
            errors.append({"field": name, "value": raw, "message": str(error)})
    return values, errors


def labels(kind_name):
    """{field: Chinese label} of a kind's fields."""
    return {field_spec.name: field_spec.label for field_spec in kinds.KINDS[kind_name].fields}
