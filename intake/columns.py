"""Which column of a file holds which field: by label, field name or synonym, or as the user said.

Headers are compared after models.standardise.text (trim, full-width to half-width), lower-cased,
without spaces, underscores, a required-mark * and (必填).  An explicit mapping {header: field}
wins; otherwise the mapping a user chose last time for a file of the same kind with the same
headers (ImportMapping) is used; otherwise the names are matched.  Headers that match nothing are
reported and ignored.  REASON_HEADER (the rejected-rows file's 错误原因) is always ignored.
"""
import hashlib
import json
import re
from dataclasses import dataclass, field

from models import standardise

REASON_HEADER = "错误原因"
_NOISE = re.compile(r"[\s_*＊]|[(（]必填[)）]")


class MappingError(ValueError):
    """The columns cannot be used as they stand (a required one missing, two for one field)."""


def normal(header):
    cleaned = standardise.text(header)
    return _NOISE.sub("", cleaned).casefold() if cleaned else ""


def signature(headers):
    """A stable hash of a file's headers (their normal forms, in order)."""
    return hashlib.sha256(json.dumps([normal(h) for h in headers], ensure_ascii=False).encode()).hexdigest()


@dataclass
class Mapping:
    headers: list
    fields: dict  # column index -> field name
    unknown: list = field(default_factory=list)  # headers matched to nothing (ignored)
    source: str = "matched"  # matched / remembered / explicit

    def by_header(self):
        """{header: field or ""} for every header, as the wizard shows and ImportMapping keeps."""
        return {header: self.fields.get(index, "") for index, header in enumerate(self.headers)
                if header and normal(header) != normal(REASON_HEADER)}

    def header_of(self, name):
        for index, field_name in self.fields.items():
            if field_name == name:
                return self.headers[index]
        return None


def names_for(kind_fields):
    """{normal name: field} from each field's name, label and synonyms."""
    table = {}
    for spec in kind_fields:
        for name in (spec.name, spec.label, *spec.synonyms):
            table.setdefault(normal(name), spec.name)
    return table


def remembered(kind, headers):
    from models import ImportMapping

    row = ImportMapping.get_or_none((ImportMapping.kind == kind) & (ImportMapping.header_signature == signature(headers)))
    if row is None:
        return None
    mapping = row.mapping
    while isinstance(mapping, str):  # remembered twice before the fix in remember(): JSON of the JSON text
        mapping = json.loads(mapping)
    return mapping


def remember(kind, headers, by_header):
    import datetime

    from models import ImportMapping

    now = datetime.datetime.now()
    ImportMapping.insert(kind=kind, header_signature=signature(headers), mapping=by_header, updated_at=now).on_conflict(
        conflict_target=[ImportMapping.kind, ImportMapping.header_signature],
        # the value as it is: peewee converts it with the field's db_value (converting it here too stored the
        # JSON text as a JSON string, and the next file with these headers failed in propose())
        update={ImportMapping.mapping: by_header, ImportMapping.updated_at: now},
    ).execute()


def propose(kind, headers, explicit=None):
    """The Mapping of `headers` for `kind` (a kinds.Kind); MappingError for an unusable one."""
    by_name = names_for(kind.fields)
    known = {spec.name: spec for spec in kind.fields}
    source = "matched"
    if explicit is None:
        explicit = remembered(kind.name, headers)
        source = "remembered" if explicit is not None else source
    else:
        source = "explicit"
    explicit = {normal(h): f for h, f in (explicit or {}).items()}
    fields, unknown, taken = {}, [], {}
    for index, header in enumerate(headers):
        key = normal(header)
        if not key or key == normal(REASON_HEADER):
            continue
        if key in explicit:
            name = explicit[key] or None
            if name and name not in known:
                name = by_name.get(normal(name))
                if name is None:
                    raise MappingError(f"列“{header}”对应的字段“{explicit[key]}”不存在")
        else:
            name = by_name.get(key)
        if name is None:
            unknown.append(header)
            continue
        if name in taken:
            raise MappingError(f"列“{headers[taken[name]]}”和“{header}”都对应“{known[name].label}”：请只保留一列，或调整对应关系")
        taken[name] = index
        fields[index] = name
    missing = [spec for spec in kind.fields if spec.required and spec.name not in taken]
    if missing:
        raise MappingError("缺少必填列：" + "；".join(
            f"{spec.label}（可用列名：{'、'.join([spec.label, *spec.synonyms, spec.name])}）" for spec in missing))
    return Mapping(headers=list(headers), fields=fields, unknown=unknown, source=source)
