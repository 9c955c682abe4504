"""The import engine: analyse a file, validate it, import it, undo an import.  A library: the CLI
(run.py import) and the admin's wizard call the same four functions.

    analysis = analyse(path_or_bytes, "customers", filename="客户.xlsx")   # preview + proposed mapping
    report = import_file(path_or_bytes, "customers", filename=..., user=None, dry_run=True)  # validate
    report = import_file(path_or_bytes, "customers", filename=..., user=..., skip_invalid=False)
    undo(report.batch_id, user=...)

How an import runs: in ONE transaction, the file is read a chunk of rows at a time; each mapped
cell is cleaned with the kind's models.standardise function (as the forms do), references,
permissions and row scope are checked for the chunk, the second occurrence of a key inside the file
is rejected naming its first row (the keys met so far live in a temporary table: intake/seen.py),
rejected rows go straight into the rejected-rows XLSX, and the valid rows are written in bulk,
each created or updated record recorded (ImportChange) for undo.  Memory stays flat in the file's
size.  The transaction is rolled back for a dry run, and for an all-or-nothing import with
rejected rows: both go through the very same code, so their counts are what the import would do.
created + updated + unchanged + rejected = data rows, always.
"""
import datetime
import io
import json
import logging
import os
from dataclasses import dataclass, field

from models import AuditLog, Customer, FollowUp, ImportBatch, ImportChange, Order, StatusChange, User, db, sealed
from models import standardise, validation

from . import columns, files, kinds
from .columns import REASON_HEADER, MappingError
from .files import FileRefused, spreadsheet_safe
from .lookups import for_lookups, indexed_lookups
from .seen import SeenKeys

log = logging.getLogger("intake")

CHUNK = 1000  # rows per check/write step
PREVIEW_ROWS = 20


class ImportRefused(ValueError):
    """Nothing can be imported (file, mapping, permission); the message says why, in Chinese."""


class UndoRefused(ValueError):
    """The batch cannot be undone (already undone, changed since); the message says why."""


@dataclass
class CellError:
    row: int  # as Excel shows it
    column: str  # the file's header ("" for a row-level reason)
    value: object
    reason: str
    hint: str = ""
    field: str = None

    def as_dict(self):
        return {"row": self.row, "column": self.column, "value": _show(self.value), "reason": self.reason,
                "hint": self.hint}


def _show(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S").replace(" 00:00:00", "")
    return str(value)


class Row:
    __slots__ = ("row_no", "raw", "values", "errors", "key", "existing", "record_id", "outcome", "owner_id",
                 "customer_id", "user_id", "manager_id", "manager_name", "_headers", "_columns")

    def __init__(self, row_no, raw, headers, columns_of):
        self.row_no = row_no
        self.raw = raw
        self.values = {}
        self.errors = []
        self.key = None
        self.existing = None
        self.record_id = None
        self.outcome = None
        self.owner_id = None
        self.customer_id = None
        self.user_id = None
        self.manager_id = None
        self.manager_name = None
        self._headers = headers
        self._columns = columns_of  # field -> column index

    def reject(self, field_name, reason, hint=""):
        index = self._columns.get(field_name)
        column = self._headers[index] if index is not None else ""
        value = self.raw[index] if index is not None else None
        self.errors.append(CellError(self.row_no, column, value, reason, hint, field_name))

    def has_error(self, field_name):
        return any(error.field == field_name for error in self.errors)


class Context:
    """What the kinds need to know about this import: who, their grant, options, counters."""

    def __init__(self, kind, user, grant, allowed, key, default_owner_id, value_maps, filename, dry_run):
        self.kind = kind
        self.user = user
        self.user_id = user.id if user is not None else None
        self.grant = grant
        self.allowed = None if allowed is None else set(allowed)
        self.key = key
        self.default_owner_id = default_owner_id
        self.value_maps = {name: {standardise.text(k): v for k, v in (mapping or {}).items()}
                           for name, mapping in (value_maps or {}).items()}
        self.filename = filename
        self.reason = f"导入：{filename}"[:255]
        self.dry_run = dry_run
        self.now = datetime.datetime.now().replace(microsecond=0)
        self.passwords = []
        self.batch_id = None
        self._changes = []
        self._codes = {}
        self._prefixes = {}
        self._record_nos = {}
        self._entries = {}
        self._indexes = {}
        self._created = []
        self.profiles = {}  # the duplicate check's candidate profiles, by their values (dedup.probe)
        self.cleaners = None  # [(column index, field, clean)], made by _check on first use

    def can(self, policy_key, action):
        return self.grant is None or self.grant.can(policy_key, action)

    def writable(self, policy_key, column):
        return self.grant is None or self.grant.writable(policy_key, column)

    def in_scope(self, owner_id):
        return self.allowed is None or owner_id in self.allowed

    def entries(self, list_kind):
        if list_kind not in self._entries:
            self._entries[list_kind] = standardise.choice_entries(list_kind)
        return self._entries[list_kind]

    def choice_index(self, list_kind):
        if list_kind not in self._indexes:
            self._indexes[list_kind] = standardise.choice_index(self.entries(list_kind))
        return self._indexes[list_kind]

    def record_created(self, model, record_id, after):
        """A record this import created; `after` is its values (dict), kept for undo's checks.  Written
        with the other created records in one executemany per chunk (flush_changes)."""
        self._created.append((self.batch_id, model, record_id, "created", None, after))

    def record_change(self, model, record_id, action, before, after):
        self._changes.append({"batch": self.batch_id, "model": model, "record_id": record_id, "action": action,
                              "before": before, "after": after})
        if len(self._changes) >= 500:
            self.flush_changes()

    def flush_changes(self):
        if self._changes:
            ImportChange.insert_many(self._changes).execute()  # JSONText.db_value encodes before/after
            self._changes = []
        if self._created:
            from . import bulk

            bulk.insert(ImportChange, ["batch", "model", "record_id", "action", "before", "after"], self._created)
            self._created = []

    def next_customer_code(self, region, industry, first_contact):
        from models.customers import code_lead

        lead = self._prefixes.get((region, industry))  # two list lookups per pair, not per row or year
        if lead is None:
            lead = self._prefixes[(region, industry)] = code_lead(region, industry)
        prefix = f"{lead}{(first_contact or datetime.date.today()).year}-"
        if prefix not in self._codes:
            self._codes[prefix] = kinds.highest_code_number(prefix)
        self._codes[prefix] += 1
        return f"{prefix}{self._codes[prefix]:03d}"

    def next_record_no(self, at):
        day = at.strftime("%Y%m%d")
        if day not in self._record_nos:
            self._record_nos[day] = kinds.highest_record_number(day)
        self._record_nos[day] += 1
        return f"{day}{self._record_nos[day]:03d}"


@dataclass
class Analysis:
    kind: str
    filename: str
    description: str  # how the file was read (encoding, delimiter / sheet)
    headers: list
    mapping: dict  # {header: field or ""}
    mapping_source: str  # matched / remembered / explicit
    unknown: list  # headers that match no field (ignored unless mapped)
    fields: list  # [(field, label, required)] the kind offers
    preview: list  # [(row_no, [values])] the first rows as decoded
    notes: list
    sheets: list
    mapping_error: str = None  # e.g. a required column missing


@dataclass
class Report:
    kind: str
    filename: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)  # CellError, every rejected cell
    column_errors: list = field(default_factory=list)  # whole columns refused by the policy
    notes: list = field(default_factory=list)
    mapping: dict = field(default_factory=dict)
    unknown: list = field(default_factory=list)
    description: str = ""
    dry_run: bool = False
    skip_invalid: bool = False
    written: bool = False
    batch_id: int = None
    error_file: str = None
    passwords: list = field(default_factory=list)  # [(username, initial password)]: shown once, never stored
    # New rows that probably repeat a stored record: [{"row", "name", "matches": [{code, name, reason, score}]}]
    duplicates: list = field(default_factory=list)

    @property
    def ok(self):
        return self.rejected == 0

    def counts(self):
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected}

    def summary(self):
        verb = "将" if not self.written else "已"
        text = (f"共 {self.rows:,} 行：{verb}新建 {self.created:,}，{verb}更新 {self.updated:,}，"
                f"无变化 {self.unchanged:,}，有错误 {self.rejected:,}")
        if self.dry_run:
            return text + "（试运行，未写入）"
        if not self.written and self.rejected:
            return text + "。有错误的行，未写入任何数据（可改正后重新导入，或选择只导入正确的行）"
        return text


def _grant(user):
    if user is None:
        return None, None
    import access

    grant = access.grant_for(user)
    return grant, access.owner_ids(user, grant)


def _open(source, filename, sheet, max_bytes):
    try:
        return files.open_table(source, filename=filename, sheet=sheet, max_bytes=max_bytes)
    except FileRefused as error:
        raise ImportRefused(str(error)) from None


def analyse(source, kind, filename=None, sheet=None, mapping=None, preview_rows=PREVIEW_ROWS, max_bytes=None):
    """How the file reads and how its columns would map: Analysis, or ImportRefused for a file that
    cannot be read at all.  A mapping problem (a required column missing) is in mapping_error."""
    spec = kinds.get(kind)
    table = _open(source, filename, sheet, max_bytes)
    mapping_error, by_header, unknown, mapping_source = None, {}, [], "matched"
    try:
        proposed = columns.propose(spec, table.headers, mapping)
        by_header, unknown, mapping_source = proposed.by_header(), proposed.unknown, proposed.source
    except MappingError as error:
        mapping_error = str(error)
        names = columns.names_for(spec.fields)
        by_header = {h: names.get(columns.normal(h), "") for h in table.headers if h}
    return Analysis(kind=kind, filename=table.filename, description=table.describe(), headers=table.headers,
                    mapping=by_header, mapping_source=mapping_source, unknown=unknown,
                    fields=[(f.name, f.label, f.required) for f in spec.fields], preview=table.preview(preview_rows),
                    notes=table.notes, sheets=table.sheets, mapping_error=mapping_error)


def import_file(source, kind, filename=None, user=None, mapping=None, value_maps=None, key=None, owner=None,
                skip_invalid=False, dry_run=False, sheet=None, errors_to=None, progress=None, max_bytes=None,
                duplicates=None):
    """Validate and import a file of `kind`; returns a Report.  Raises ImportRefused when nothing
    can be imported at all (unreadable file, missing required column, no permission).

    user: the importing User (None: the system, full access); owner: default owner (User or
    username) of new customers; key: "mobile" or "email", how customers without codes are matched;
    mapping: {header: field} (remembered for the next file with these headers once imported);
    value_maps: {field: {file value: list entry}}; errors_to: where to write the rejected rows
    (XLSX; default instance/imports/ for a real run); progress(done, total, stage): stage
    "validate" (total None) then "write"; duplicates: look up the stored records each new row probably
    repeats (Report.duplicates; default: in dry runs, which is where people decide — one indexed
    lookup per new row).
    """
    spec = kinds.get(kind)
    table = _open(source, filename, sheet, max_bytes)
    try:
        mapped = columns.propose(spec, table.headers, mapping)
    except MappingError as error:
        raise ImportRefused(str(error)) from None
    grant, allowed = _grant(user)
    if grant is not None and not (grant.can(spec.policy_key, "create") or grant.can(spec.policy_key, "edit")):
        raise ImportRefused(f"您的角色（{grant.label}）不能导入{spec.label}：没有新建或修改{spec.label}的权限")
    names = set(mapped.fields.values())
    if key is None and spec.keys and "code" in {f.name for f in spec.fields} and "code" not in names:
        key = next((k for k in spec.keys if k in names), None)
    if key is not None and key not in spec.keys:
        raise ImportRefused(f"匹配键只能是：{'、'.join(spec.field(k).label + '（' + k + '）' for k in spec.keys)}")
    if key is not None and key not in names:
        raise ImportRefused(f"按{spec.field(key).label}匹配已有{spec.label}，但文件中没有这一列")
    owner_user = owner
    if isinstance(owner, str):
        owner_user = User.get_or_none(User.username == owner)
        if owner_user is None:
            raise ImportRefused(f"负责人“{owner}”不存在")
    if owner_user is not None and allowed is not None:
        if not grant.writable("customer", "owner") and owner_user.id != user.id:
            raise ImportRefused("您只能导入自己负责的客户，不能指定其他负责人")
        if owner_user.id not in allowed:
            raise ImportRefused(f"负责人“{owner_user.username}”不在您的数据范围内")
    default_owner = owner_user.id if owner_user is not None else (user.id if user is not None else None)
    ctx = Context(spec, user, grant, allowed, key, default_owner, value_maps, table.filename, dry_run)
    report = Report(kind=kind, filename=table.filename, mapping=mapped.by_header(), unknown=mapped.unknown,
                    description=table.describe(), notes=list(table.notes), dry_run=dry_run, skip_invalid=skip_invalid)
    if key and "code" not in names:
        report.notes.append(f"文件没有客户编号列：按{spec.field(key).label}匹配已有客户")
    refused = _refused_columns(spec, mapped, ctx)
    report.column_errors = [message for message in refused.values()]

    # each chunk of rows is cleaned, checked and written, all in ONE
    # transaction that is rolled back for a dry run and for an all-or-nothing import with rejected
    # rows: both go through the very same code, so their counts are what the import would do
    sink = _ErrorSink(table.headers) if (errors_to or not dry_run) else None  # opened at its first row
    probe = spec.probable_duplicates if (dry_run if duplicates is None else duplicates) else None
    estimate = table.size_hint()

    def validated(rows, seen):
        _check(spec, rows, ctx, mapped, refused)
        if probe is not None:
            with indexed_lookups():  # not a scan of the rows rehearsed so far per row (see intake.lookups)
                for row in rows:
                    if not row.errors and row.existing is None:
                        found = probe(row, ctx)
                        if found:
                            report.duplicates.append({"row": row.row_no, "name": row.values.get("name"),
                                                      "matches": [{"code": m.code, "name": m.name, "reason": m.reason,
                                                                   "score": round(m.score, 2)} for m in found]})
        repeats = seen.check([(row.row_no, row.key) for row in rows if row.key is not None])
        for row in rows:
            first = repeats.get(row.row_no)
            if first is not None and not row.errors:
                field_name = row.key[0] if row.key[0] in mapped.fields.values() else None
                row.reject(field_name, f"与第 {first} 行重复（同一文件中出现两次）", "删除重复的行，或改正其中一行")
            if row.errors:
                report.rejected += 1
                report.errors.extend(row.errors)
                if sink is not None:
                    sink.add(row)
        return [row for row in rows if not row.errors]

    total = 0
    stage = "validate" if dry_run else "write"  # (a dry run writes too, and rolls back)
    with SeenKeys() as seen, db.atomic() as transaction:
        batch = ImportBatch.create(kind=kind, user=ctx.user_id, username=_username(user), filename=table.filename,
                                   mapping=mapped.by_header(), options=_options(skip_invalid, key, owner_user, sheet,
                                                                                value_maps), status="done",
                                   created_at=ctx.now)
        ctx.batch_id = batch.id
        if probe is not None:
            for_lookups()
        for rows in _chunks(table, mapped):
            valid = validated(rows, seen)
            if valid:
                spec.write(valid, ctx)
                for row in valid:
                    setattr(report, row.outcome, getattr(report, row.outcome) + 1)
                ctx.flush_changes()
            total += len(rows)
            if progress:
                progress(total, max(estimate, total), stage)
        report.rows = total
        keep = not dry_run and (not report.rejected or skip_invalid)
        if sink is not None and report.rejected:
            report.error_file = sink.save(errors_to or default_error_path(kind))
        if keep:
            for name, value in report.counts().items():
                setattr(batch, name, value)
            batch.error_file = report.error_file
            batch.save()
            AuditLog.create(username=_username(user) or "system", action="import", model=spec.policy_key,
                            record_id=str(batch.id), rows=report.created + report.updated,
                            changes=json.dumps({"file": table.filename, "kind": kind, "batch": batch.id,
                                                **report.counts()}, ensure_ascii=False))
            if mapped.source == "explicit":
                columns.remember(kind, table.headers, mapped.by_header())
        else:
            transaction.rollback()
    if progress and total:
        progress(total, total, stage)
    report.written = keep
    if keep:
        report.batch_id = batch.id
        _pipeline_after_import(batch.id)
        _tag_rules_after_import(batch.id)
        _reminders_after_import(batch.id)
        _dashboard_after_import(user)
        report.passwords = ctx.passwords
    elif not dry_run:
        with db.atomic():  # a refused import is recorded too: who tried which file, and its error file
            failed = ImportBatch.create(kind=kind, user=ctx.user_id, username=_username(user),
                                        filename=table.filename, mapping=mapped.by_header(),
                                        options=_options(skip_invalid, key, owner_user, sheet, value_maps),
                                        status="rejected", error_file=report.error_file, created_at=ctx.now,
                                        **report.counts())
        report.batch_id = failed.id
    report.errors.sort(key=lambda e: e.row)
    return report


def validate(source, kind, **options):
    """import_file(..., dry_run=True): the report of what an import would do; nothing is written."""
    return import_file(source, kind, dry_run=True, **options)


def _username(user):
    return getattr(user, "username", None)


def _options(skip_invalid, key, owner, sheet, value_maps):
    return {"skip_invalid": skip_invalid, "key": key, "owner": getattr(owner, "username", None), "sheet": sheet,
            "value_maps": value_maps or {}}


def _refused_columns(spec, mapped, ctx):
    """{field: message} of mapped columns the importing user's role may not write."""
    refused = {}
    if ctx.grant is None:
        return refused
    levels = {"hidden": "隐藏", "masked": "脱敏", "readonly": "只读"}
    for index, name in mapped.fields.items():
        field_spec = spec.field(name)
        if field_spec.own_policy:
            continue
        access_level = ctx.grant.access(spec.policy_key, field_spec.policy_column)
        if access_level != "editable":
            refused[name] = (f"您的角色（{ctx.grant.label}）不能写入“{mapped.headers[index]}”列"
                             f"（{field_spec.label}：{levels.get(access_level, access_level)}）：请删除这一列的内容后重新导入")
    return refused


def _chunks(table, mapped, skip=None):
    """Rows of the file, cleaned cell by cell, in chunks of CHUNK.  A file found damaged part way
    (files are read as a stream) refuses the whole import: ImportRefused, inside the one transaction."""
    columns_of = {name: index for index, name in mapped.fields.items()}
    chunk = []
    try:
        for row_no, raw in table.rows():
            if skip and row_no in skip:
                continue
            chunk.append(Row(row_no, raw, table.headers, columns_of))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    except FileRefused as error:
        raise ImportRefused(str(error)) from None
    if chunk:
        yield chunk


def _cell_cleaner(field_spec, ctx):
    """value -> stored value for one column (raises standardise.StandardError): the field's own
    function where it needs nothing else, so a cell costs one call; a number column's value is also
    checked against what the column stores (models.validation.number_out_of_range, as the admin's forms)."""
    clean = _plain_cleaner(field_spec, ctx)
    model = getattr(ctx.kind, "model", None)
    column = model._meta.fields.get(field_spec.column or field_spec.name) if model is not None else None
    if not validation.stores_numbers(column):
        return clean

    def clean_in_range(value):
        cleaned = clean(value)
        message = validation.number_out_of_range(column, cleaned)
        if message:  # 1E20 as an order's 金额 failed writing in PostgreSQL (numeric field overflow)
            raise standardise.StandardError(f"{message}：{value}")
        return cleaned

    return clean_in_range


def _plain_cleaner(field_spec, ctx):
    if field_spec.choice:
        value_map = ctx.value_maps.get(field_spec.name, {})
        list_kind = field_spec.choice
        entries, index = ctx.entries(list_kind), ctx.choice_index(list_kind)

        def clean_choice(value):
            mapped = value_map.get(standardise.text(value)) if value_map else None
            return standardise.choice(list_kind, mapped if mapped is not None else value, entries, index)

        return clean_choice
    if field_spec.minimum is None:
        return field_spec.clean
    clean, minimum = field_spec.clean, field_spec.minimum

    def clean_at_least(value):
        cleaned = clean(value)
        if cleaned is not None and cleaned < minimum:
            raise standardise.StandardError("不能为负数")
        return cleaned

    return clean_at_least


MEMO_SIZE = 20000  # distinct values remembered per column
MEMO_PROBE = 5000  # cells after which a column that rarely repeats a value stops remembering


class _Memo:
    """One column's cleaning, remembered per distinct cell value: list values, dates, statuses and
    amounts repeat across a file, so most cells cost a dict lookup.  A column whose values rarely
    repeat (names, mobiles) stops remembering after MEMO_PROBE cells; at most MEMO_SIZE values are
    kept, so memory stays flat.  Cleaning is a pure function of the value within one import (lists
    and value maps are read once per import), so a remembered result is the result."""

    __slots__ = ("clean", "cache", "cells", "hits", "on")

    def __init__(self, clean):
        self.clean = clean
        self.cache = {}
        self.cells = 0
        self.hits = 0
        self.on = True

    def __call__(self, value):
        if not self.on:
            return self.clean(value)
        cache = self.cache
        key = value if value.__class__ is str else (value.__class__, value)  # 1, 1.0 and True apart
        try:
            found = cache.get(key)
        except TypeError:  # an unhashable cell value
            return self.clean(value)
        self.cells += 1
        if found is not None:
            self.hits += 1
            if found.__class__ is standardise.StandardError:
                raise standardise.StandardError(*found.args)
            return found[0]
        if self.cells == MEMO_PROBE and self.hits < MEMO_PROBE // 2:
            self.on = False
            self.cache = {}
        try:
            cleaned = self.clean(value)
        except standardise.StandardError as error:
            if len(cache) < MEMO_SIZE:
                cache[key] = error
            raise
        if len(cache) < MEMO_SIZE:
            cache[key] = (cleaned,)
        return cleaned


def _cleaners(spec, ctx, mapped, refused):
    """[(column index, field name, field spec, clean or None when refused)] of the mapped columns."""
    out = []
    for index, name in mapped.fields.items():
        field_spec = spec.field(name)
        if name in refused:
            out.append((index, name, field_spec, None))
            continue
        out.append((index, name, field_spec, _Memo(_cell_cleaner(field_spec, ctx))))
    return out


def check_rows(spec, rows, ctx, mapped, refused=None):
    """Clean and check rows that come from elsewhere than a file (sync/: JSON items) with the very code an
    import runs, so a value is accepted or refused alike whichever way it arrives.  `mapped` needs `headers`
    and `fields` ({index: field name}); `refused`: {field: reason} of columns the user may not write."""
    _check(spec, rows, ctx, mapped, refused or {})


def _check(spec, rows, ctx, mapped, refused):
    """Clean every mapped cell, then the kind's checks over the chunk."""
    if ctx.cleaners is None:
        ctx.cleaners = _cleaners(spec, ctx, mapped, refused)
    # a column that stopped remembering (names, mobiles) calls its function directly; one that remembers,
    # once past its probe, is looked up here for text cells (its remembered values, without a call per cell)
    cleaners = [(index, name, field_spec, clean if clean is None or clean.on else clean.clean,
                 clean.cache if clean is not None and clean.on and clean.cells > MEMO_PROBE else None)
                for index, name, field_spec, clean in ctx.cleaners]
    required = [field_spec for field_spec in spec.fields if field_spec.required]
    StandardError = standardise.StandardError
    for row in rows:
        raw = row.raw
        values = row.values
        for index, name, field_spec, clean, cache in cleaners:
            value = raw[index]
            if value is None:
                continue
            if cache is not None and value.__class__ is str:
                found = cache.get(value)
                if found.__class__ is tuple:  # a value cleaned before (an error goes through clean again)
                    if found[0] is not None:
                        values[name] = found[0]
                    continue
            if clean is None:
                row.reject(name, refused[name])
                continue
            try:
                cleaned = clean(value)
            except StandardError as error:
                row.reject(name, str(error), field_spec.hint)
                continue
            if cleaned is not None:
                values[name] = cleaned
        for field_spec in required:
            if field_spec.name not in values and not row.has_error(field_spec.name):
                row.reject(field_spec.name, f"{field_spec.label}必填", field_spec.hint)
    spec.check(rows, ctx)  # also rows with a bad cell: the report names every reason at once


# --- rejected rows as XLSX --------------------------------------------------------------------

# A cell a spreadsheet must not run as a formula gets a leading apostrophe, control characters dropped
# (intake.files.spreadsheet_safe, which admin exports use too).
escape = spreadsheet_safe


class _ErrorSink:
    """The rejected rows as in the file plus 错误原因, streamed into a write-only workbook."""

    def __init__(self, headers):
        self.headers = headers
        self.workbook = None
        self.keep = [i for i, h in enumerate(headers) if columns.normal(h) != columns.normal(REASON_HEADER)]

    def add(self, row):
        if self.workbook is None:
            import openpyxl

            self.workbook = openpyxl.Workbook(write_only=True)
            self.sheet = self.workbook.create_sheet("有错误的行")
            self.sheet.append([escape(self.headers[i]) for i in self.keep] + [REASON_HEADER])
        reasons = "；".join(f"{e.column}：{e.reason}" if e.column else e.reason for e in row.errors)
        self.sheet.append([escape(row.raw[i]) if i < len(row.raw) else None for i in self.keep] + [escape(reasons)])

    def save(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.workbook.save(path)
        return path


ERRORS_DIR = None  # where rejected-rows files go by default; None: instance/imports/


def default_error_path(kind):
    from settings import INSTANCE

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return os.path.join(ERRORS_DIR or os.path.join(INSTANCE, "imports"), f"{stamp}-{kind}-错误行.xlsx")


# --- templates --------------------------------------------------------------------------------

def template(kind):
    """An XLSX template for `kind`: Chinese headers (required ones marked *) and an example row."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    spec = kinds.get(kind)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = f"{spec.label}导入模板"
    for column, field_spec in enumerate(spec.fields, 1):
        cell = sheet.cell(row=1, column=column, value=field_spec.label + ("*" if field_spec.required else ""))
        cell.font = Font(bold=True, color="C00000" if field_spec.required else "000000")
        note = "必填。" if field_spec.required else ""
        if field_spec.choice:
            note += "可选：" + "、".join(name for name, _, _ in standardise.choice_entries(field_spec.choice)) + "。"
        if field_spec.hint:
            note += field_spec.hint
        if note:
            cell.comment = Comment(note, "导入模板")
        example = sheet.cell(row=2, column=column, value=field_spec.example if field_spec.example != "" else None)
        if isinstance(field_spec.example, datetime.datetime):
            example.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(field_spec.example, datetime.date):
            example.number_format = "yyyy-mm-dd"
        sheet.column_dimensions[cell.column_letter].width = max(12, len(field_spec.label) * 2 + 4)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- undo -------------------------------------------------------------------------------------

MODELS = {"customer": Customer, "followup": FollowUp, "order": Order, "user": User}


def _reminders_after_import(batch_id):
    """Follow-up tasks (reminders) planned and closed by the follow-ups the import wrote, after it committed."""
    import reminders

    reminders.after_import(batch_id)


def _reminders_take_back(batch_id):
    """Follow-up tasks of an import being undone (inside its transaction, before the created records go): the
    tasks its follow-ups planned go, the tasks they closed open again (reminders.undoing)."""
    from reminders import undoing

    return undoing.take_back(batch_id)


def _dashboard_after_import(user):
    """The home page's roll-ups refreshed by a worker after an import or its undo (dashboard.tasks; one queued
    refresh at a time), and the report builder's shared copy rebuilt (reportbuilder.tasks; large databases only)."""
    from dashboard.tasks import queue_refresh
    from reportbuilder.tasks import queue_build

    queue_refresh(username=_username(user) or "system")
    queue_build(username=_username(user) or "system")


def _pipeline_after_import(batch_id):
    """Status transitions (pipeline) for the customers the import touched, after it committed, before the tag
    rules (which read the status)."""
    import pipeline

    pipeline.after_import(batch_id)


RECHECK_AT_ONCE = 20_000  # customers an undo checks itself; beyond that the daily sweeps run now on a worker
RECHECK_CHUNK = 100  # tagrules' quick check takes up to this many customers in three queries


def _surviving_customers(batch_id):
    """Ids of the customers an undo keeps whose records the batch touched: updated by it, or given orders,
    follow-ups or status changes the undo now deletes."""
    from tagrules.sweep import import_customers

    created = ImportChange.select(ImportChange.record_id).where(
        (ImportChange.batch == batch_id) & (ImportChange.model == "customer") & (ImportChange.action == "created"))
    return [i for (i,) in Customer.select(Customer.id).where(
        Customer.id.in_(import_customers(batch_id)) & Customer.id.not_in(created)).order_by(Customer.id).tuples()]


def _rules_after_undo(customer_ids, user):
    """Status transitions, then tag rules, for the customers an undo changed, after it committed (the orders that
    earned a rule tag are gone, a status the import set is back).  A very large undo hands the whole check to the
    daily sweeps, queued now for a worker, instead of holding the page.  Never raises."""
    import pipeline
    import tagrules

    if len(customer_ids) > RECHECK_AT_ONCE:
        import jobs
        from pipeline.tasks import JOB as PIPELINE_JOB
        from tagrules.tasks import JOB as TAG_RULES_JOB

        for name in (PIPELINE_JOB, TAG_RULES_JOB):
            try:
                jobs.run_now(name, username=_username(user) or "system")
            except Exception:  # noqa: BLE001 - logged; the nightly sweep runs anyway
                log.exception("撤销导入后无法排队 %s，将由每日检查补上", name)
        return
    for start in range(0, len(customer_ids), RECHECK_CHUNK):
        chunk = customer_ids[start:start + RECHECK_CHUNK]
        pipeline.after_change(chunk)
        tagrules.after_change(chunk)


def _tag_rules_after_import(batch_id):
    """Tag rules (tagrules) checked for the customers the import touched, after it committed."""
    import tagrules

    tagrules.after_import(batch_id)


def undo(batch_id, user=None, force=False):
    """Take an import back: records it created are deleted (with what the database cascades on them:
    a customer's follow-ups, orders, tags, feedback and status history), records it updated get their
    earlier values back.  Refused (UndoRefused) when the batch was undone already or wrote nothing,
    when the importing user's successor may not, or — unless force — when a record was changed after
    the import or a created customer has gained records from elsewhere.  Follow-up tasks its follow-ups
    planned go, and those they closed open again (reminders.undoing).  Returns counts."""
    batch = ImportBatch.get_or_none(ImportBatch.id == batch_id)
    if batch is None:
        raise UndoRefused(f"导入批次 {batch_id} 不存在")
    if batch.status == "undone":
        raise UndoRefused(f"导入批次 {batch_id} 已于 {batch.undone_at:%Y-%m-%d %H:%M} 撤销")
    if batch.status != "done":
        raise UndoRefused(f"导入批次 {batch_id} 没有写入任何数据，无需撤销")
    spec = kinds.get(batch.kind)
    grant, allowed = _grant(user)
    if grant is not None:
        if not grant.can(spec.policy_key, "delete") and not (user.id == batch.user_id and grant.can(spec.policy_key, "edit")):
            raise UndoRefused(f"您没有撤销这次{spec.label}导入的权限")
    counts = {"deleted": 0, "restored": 0}
    with db.atomic():
        problems = [] if force else _undo_conflicts(batch)
        if problems:
            shown = "；".join(problems[:10]) + (f"；另有 {len(problems) - 10} 处" if len(problems) > 10 else "")
            raise UndoRefused(f"导入后这些记录又有改动，撤销会覆盖或删除它们：{shown}。确认仍要撤销请使用强制撤销")
        for change in _changes(batch, action="updated", newest_first=True):
            counts["restored"] += _restore(batch, change, user)
        tasks = _reminders_take_back(batch.id)
        touched = _surviving_customers(batch.id)  # read before the created records (and their links) go
        for name in UNDO_ORDER:  # created records: one DELETE per model (the database cascades the rest)
            model = MODELS[name]
            created = (ImportChange.select(ImportChange.record_id)
                       .where((ImportChange.batch == batch.id) & (ImportChange.model == name)
                              & (ImportChange.action == "created")))
            counts["deleted"] += model.delete().where(model.id.in_(created)).execute()
        batch.status = "undone"
        batch.undone_at = datetime.datetime.now()
        batch.undone_by = _username(user) or "system"
        batch.save()
        AuditLog.create(username=_username(user) or "system", action="import-undo", model=spec.policy_key,
                        record_id=str(batch.id), rows=counts["deleted"] + counts["restored"],
                        changes=json.dumps({"batch": batch.id, "file": batch.filename, "kind": batch.kind, **counts,
                                            "tasks": tasks}, ensure_ascii=False))
    _dashboard_after_import(user)
    _rules_after_undo(touched, user)
    return counts


UNDO_ORDER = ("followup", "order", "customer", "user")  # children before the records they belong to
CHANGES_PAGE = 1000  # ImportChange rows read at a time: memory stays flat for a batch of millions


def _changes(batch, action=None, newest_first=False):
    """The batch's ImportChange rows, a page at a time (by id, so pages do not shift)."""
    query = ImportChange.select().where(ImportChange.batch == batch.id)
    if action:
        query = query.where(ImportChange.action == action)
    last = None
    while True:
        page = query
        if last is not None:
            page = page.where(ImportChange.id < last if newest_first else ImportChange.id > last)
        rows = list(page.order_by(ImportChange.id.desc() if newest_first else ImportChange.id).limit(CHANGES_PAGE))
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def _restore(batch, change, user):
    """Put the earlier values of one updated record back; rows restored (0 or 1)."""
    model = MODELS[change.model]
    values = {}
    for name, old in (change.before or {}).items():
        if isinstance(old, dict) and "sealed" in old:
            values[name] = sealed.unseal(old["sealed"]) if old["sealed"] else None
        else:
            values[name] = model._meta.fields[name].python_value(old) if old is not None else None
    if model is Customer:
        for name in Customer.SEALED:
            if name in values:
                values[name + "_digest"] = sealed.digest(values[name]) if values[name] else None
        if "status" in values:
            current = Customer.select(Customer.status).where(Customer.id == change.record_id).scalar()
            if current is not None and current != values["status"]:
                StatusChange.create(customer=change.record_id, from_status=current, to_status=values["status"],
                                    reason=f"撤销导入批次 {batch.id}", user=getattr(user, "id", None))
        values["updated_at"] = datetime.datetime.now()
    if not values:
        return 0
    return model.update(values).where(model.id == change.record_id).execute()


def _undo_conflicts(batch):
    """Records changed since the import wrote them, and created customers that gained other records.
    Read a page of changes at a time, their records fetched by one query per model and page."""
    problems = []
    page = []
    for change in _changes(batch):
        page.append(change)
        if len(page) >= CHANGES_PAGE:
            problems += _changed_since(page)
            page = []
    problems += _changed_since(page)
    created_customers = (ImportChange.select(ImportChange.record_id)
                         .where((ImportChange.batch == batch.id) & (ImportChange.model == "customer")
                                & (ImportChange.action == "created")))
    for model, key, label in ((FollowUp, FollowUp.customer, "跟进记录"), (Order, Order.customer, "订单")):
        ours = (ImportChange.select(ImportChange.record_id)
                .where((ImportChange.batch == batch.id) & (ImportChange.model == model.__name__.lower())))
        gained = (model.select(key).where(key.in_(created_customers) & model.id.not_in(ours))
                  .distinct().limit(100).tuples())
        problems += [f"新建的客户 #{customer_id} 已有其他{label}" for (customer_id,) in gained]
    return problems


def _changed_since(changes):
    problems = []
    by_model = {}
    for change in changes:
        by_model.setdefault(change.model, []).append(change)
    for name, items in by_model.items():
        model = MODELS[name]
        records = {record.id: record for record in model.select().where(model.id.in_([c.record_id for c in items]))}
        for change in items:
            after = change.after or {}
            names = [n for n in after if n in model._meta.fields and n not in getattr(model, "SEALED", ())
                     and not n.endswith("_digest") and n not in ("created_at", "updated_at")]
            if not names:
                continue
            record = records.get(change.record_id)
            if record is None:
                if change.action == "updated":
                    problems.append(f"{change.model} #{change.record_id} 已被删除")
                continue
            for field_name in names:
                field_obj = model._meta.fields[field_name]
                stored = record.__data__.get(field_obj.name)
                # as typed values: 1234.50 kept as text in `after` is the 1234.5 SQLite gives back
                if not kinds._same(_typed(field_obj, stored), _typed(field_obj, after[field_name])):
                    problems.append(f"{_label_of(change.model, record)} 的“{field_name}”")
                    break
    return problems


def _typed(field_obj, value):
    return None if value is None else field_obj.python_value(value)


def _label_of(model_name, record):
    for name in ("code", "order_no", "record_no", "username"):
        if hasattr(record, name):
            return f"{getattr(record, name)}"
    return f"{model_name} #{record.id}"
