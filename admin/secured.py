"""PolicyModelView: the single point where admin screens apply the access policy.

Flask-Admin computes columns, forms, filters and search once per view instance
(`_refresh_cache`, flask-admin #1544).  Instead of fighting that, each request runs on
a *variant* of the registered view: a shallow copy configured for the caller's grant
(role + policy version + language) and refreshed once, built lazily under a lock and
never mutated afterwards.  Requests from different roles therefore never share column
or form config, and a policy edit (new version) yields new variants on the next request.
"""
import copy
import datetime
import decimal
import json
import threading
from urllib.parse import urlencode

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin import helpers as h
from flask_admin.helpers import get_redirect_target
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext, ngettext
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.form import CustomModelConverter
from flask_admin.form import SecureForm
from flask_admin.model import typefmt
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup, escape
from peewee import AutoField, DecimalField, FloatField, ForeignKeyField, IntegerField
from wtforms import SelectField, validators
from wtforms.validators import ValidationError
from wtfpeewee.fields import ModelSelectField
from wtfpeewee.orm import FieldInfo

import access
import audittrail
import numberformat
import pipeline
import reminders
import tagrules
from access.scope import customer_in_scope, owner_ids, scope_query
from i18n import current_language
from intake.files import spreadsheet_safe
from models import AuditLog, Customer, constraints, contention, db
from web.security import csp_nonce

from . import form_rules, row_actions, searching
from .labels import labels_for

# The largest integer both databases take as a parameter (SQLite's and PostgreSQL's 64-bit integers).
LARGEST_ID = 2**63 - 1


def parse_id(value):
    """A record id from a URL or form, or None when it cannot be one: not a number, or a number no
    integer column holds (?id=999...9 must find nothing, not fail converting it in the database)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if -LARGEST_ID <= number <= LARGEST_ID else None


# Times to the minute; datetime precedes date (it is a subclass).  Flask-Admin takes the first type that matches.
_TIMES = {
    datetime.datetime: lambda view, value, name: value.strftime("%Y-%m-%d %H:%M"),
    datetime.date: lambda view, value, name: value.strftime("%Y-%m-%d"),
}
# Screens: money (every Decimal column is an amount) as ¥1,234,567.00 and whole numbers as 1,234,567 (numberformat);
# bool first, as it is an int too.  Exports keep plain numbers (1234567.00) that a spreadsheet can sum.
_FIGURES = {
    decimal.Decimal: lambda view, value, name: numberformat.money(value),
    int: lambda view, value, name: numberformat.count(value),
}
# Columns whose values those formatters show as figures, right-aligned in lists (`figure_columns`).
FIGURE_FIELDS = (DecimalField, FloatField, IntegerField)
LIST_FORMATTERS = {**_TIMES, bool: typefmt.bool_formatter, **_FIGURES, **typefmt.BASE_FORMATTERS}
DETAIL_FORMATTERS = {**_TIMES, bool: lambda view, value, name: value, **_FIGURES, **typefmt.DETAIL_FORMATTERS}
EXPORT_FORMATTERS = {**_TIMES, decimal.Decimal: lambda view, value, name: f"{value:.2f}", **typefmt.EXPORT_FORMATTERS}


# Screens whose records tag-rule metrics read: a save or delete there re-checks the customer's rule tags.
RULE_INPUTS = ("customer", "order", "followup", "feedback", "statuschange")


class TokenForm(SecureForm):
    """A form that is only its CSRF token, for buttons that POST (run now, re-run); their
    values are checked by the code that acts on them, not by WTForms."""


class PolicyView(BaseView):
    """A screen that is not one model's records (jobs, 数据质量, 重复客户): open to whoever's grant has
    `view` on its policy key, login first for anonymous visitors, 403 for the rest."""

    policy_key = None

    def grant_allows(self, grant):
        """What a screen needs from the grant beyond `view` on its policy key (its capability's may_view)."""
        return True

    def is_accessible(self):
        return (current_user.is_authenticated and current_user.is_active
                and current_grant().can(self.policy_key, "view") and self.grant_allows(current_grant()))

    def is_visible(self):
        return (current_user.is_authenticated and current_grant().can(self.policy_key, "view")
                and self.grant_allows(current_grant()))

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


def current_grant():
    if "grant" not in g:
        g.grant = access.grant_for(current_user)
    return g.grant


def audit(action_name, model=None, record_id=None, changes=None, rows=None):
    AuditLog.create(
        username=getattr(current_user, "username", None),
        action=action_name,
        model=model,
        record_id=None if record_id is None else str(record_id),
        changes=json.dumps(changes, ensure_ascii=False, default=str) if changes else None,
        ip=request.remote_addr if request else None,
        rows=rows,
    )


class IdSelectField(ModelSelectField):
    """A foreign key's drop-down whose posted value is looked up only when it can be an id: "<script>" or
    forty nines posted for 角色 or 标签 failed in PostgreSQL (invalid input syntax for type integer) instead of
    being 不是有效的选项."""

    def get_model(self, pk):
        pk = parse_id(pk)
        return None if pk is None else super().get_model(pk)

    def pre_validate(self, form):
        # A nullable key's filter sets the miss back as data, and wtfpeewee then looks the raw text up (用户's
        # 上级经理 = "<script>" failed in PostgreSQL the same way): only an id is looked up.
        data = self.data
        if data is not None and not isinstance(data, self.model):
            pk = parse_id(data)
            if pk is None or not self.query.where(self.model._meta.primary_key == pk).exists():
                raise ValidationError(self.gettext("Not a valid choice."))
            return
        super().pre_validate(form)


class IdCheckingConverter(CustomModelConverter):
    """Flask-Admin's converter with IdSelectField for foreign keys that have no AJAX picker."""

    def handle_foreign_key(self, model, field, **kwargs):
        if getattr(self.view, "_form_ajax_refs", {}).get(field.name) or field.choices is not None:
            return super().handle_foreign_key(model, field, **kwargs)
        if field.null:
            kwargs["allow_blank"] = True
        return FieldInfo(field.name, IdSelectField(model=field.rel_model, **kwargs))

    def convert(self, model, field, field_args):
        """Drop-downs hold one of their choices or, where the column may be NULL, nothing.  wtfpeewee gives a
        column with a default or NULL the Optional validator, which takes a blank or whitespace-only value for
        "not filled in" and stops the check that it is a choice, so a posted " " was stored as " ".

        - NOT NULL with choices (客户类型): a posted value must be one of them (found by the bad-input sweep);
          left out of the form it is still optional, as before.
        - NULL (跟进结果, a transition's 新状态, the customer's 所属行业 from the lists): a blank post is NULL;
          anything else must be a choice (不是有效的选择)."""
        info = super().convert(model, field, field_args)
        unbound = None if info is None else info[1]  # FieldInfo, or Flask-Admin's plain (name, field)
        if unbound is None:
            return info
        if getattr(field, "choices", None) and not field.null:
            unbound.kwargs["validators"] = [ChoiceOptional() if isinstance(v, validators.Optional) else v
                                            for v in unbound.kwargs.get("validators", [])]
        elif field.null and issubclass(unbound.field_class, SelectField):
            # Blank is the empty option: NULL, as the browser's "" or "__None" is (wtfpeewee maps only "").
            unbound.kwargs["filters"] = [*unbound.kwargs.get("filters", ()), blank_is_none]
        return info


def blank_is_none(value):
    """A form filter: an empty or whitespace-only text is no value (NULL)."""
    return None if isinstance(value, str) and not value.strip() else value


class ChoiceOptional(validators.Optional):
    """Optional only when the field was not posted at all; a posted value, blank or not, goes on to the
    drop-down's own check that it is one of the choices."""

    def __call__(self, form, field):
        if not field.raw_data:
            super().__call__(form, field)


class PolicyModelView(ModelView):
    # --- declarations, trimmed per grant -------------------------------------------
    policy_key = None  # permission key, defaults to the model name in lower case
    list_columns = ()  # everything a list may show
    detail_columns = ()  # everything the details page and export may show
    form_fields = ()  # everything a form may edit
    filter_columns = ()  # (policy column, Flask-Admin filter spec)
    search_kinds = {}  # column -> kind in admin.searching.KINDS
    sortable_columns = ()  # columns a list may be sorted by
    ajax_refs = {}  # form field -> AJAX loader instance
    owner_column = None  # filled with the current user on create when the role may not set it
    owner_refused = "负责人只能是您的数据范围内的用户"  # a posted owner outside the caller's row scope
    creator_column = None  # always the current user on create
    sensitive_columns = ("id_number", "bank_account")  # never written to the audit trail
    form_args = {}  # per-field WTForms arguments; labels are added from admin.labels

    # --- Flask-Admin settings shared by every screen -------------------------------
    form_base_class = SecureForm  # CSRF token on every form
    model_form_converter = IdCheckingConverter
    simple_list_pager = True  # no COUNT(*) over the table on every list page (flask-admin #897)
    page_size = 20
    can_set_page_size = False
    can_view_details = True
    export_types = ["csv", "xlsx"]
    export_max_rows = 100000
    edit_template = "admin/policy_edit.html"
    list_template = "admin/crm_list.html"  # figure columns marked `num` (a screen's own list extends it)
    column_default_sort = ("id", True)
    column_type_formatters = LIST_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    column_type_formatters_export = EXPORT_FORMATTERS

    def __init__(self, model, *args, **kwargs):
        self.policy_key = self.policy_key or model.__name__.lower()
        self.model = model  # _configure below reads it (figure_columns) before Flask-Admin sets it again
        # Show the label of a stored choice ("manual" -> 手动) wherever the field declares choices.
        self.column_choices = {
            name: list(field.choices) for name, field in model._meta.fields.items() if field.choices
        }
        self._variants = {}
        self._variants_lock = threading.Lock()
        self._grant = None  # None: the unrestricted template the variants are copied from
        self._configure(None)
        super().__init__(model, *args, **kwargs)

    def is_figure(self, column):
        """Is the column money or a count, shown by the figure formatters (¥1,234.00, 1,234) and aligned right
        in lists?  Judged by the model's field, so every screen's money and counts are found the same way;
        ids, foreign keys and choices are not figures."""
        field = self.model._meta.fields.get(column)
        return (isinstance(field, FIGURE_FIELDS) and not isinstance(field, AutoField)
                and not getattr(field, "choices", None))

    # --- labels follow the interface language ---------------------------------------
    @property
    def column_labels(self):
        return labels_for(self.policy_key, current_language())

    @column_labels.setter
    def column_labels(self, value):
        pass  # labels come from admin.labels only

    # --- per-grant variants ---------------------------------------------------------
    def _configure(self, grant):
        """Set Flask-Admin's config attributes to what `grant` allows (None: everything)."""
        key = self.policy_key
        self._grant = grant
        visible = (lambda c: True) if grant is None else (lambda c: grant.visible(key, c))
        clear = (lambda c: True) if grant is None else (lambda c: grant.clear(key, c))
        writable = (lambda c: True) if grant is None else (lambda c: grant.writable(key, c))
        can = (lambda a: True) if grant is None else (lambda a: grant.can(key, a))

        self.column_list = [c for c in self.list_columns if visible(c)]
        self.figure_columns = frozenset(c for c in self.column_list if self.is_figure(c))
        self.column_details_list = [c for c in self.detail_columns if visible(c)]
        self.column_export_list = list(self.column_details_list)
        self.column_sortable_list = [c for c in self.sortable_columns if clear(c)]
        # Filter options may come from the database; the unrestricted template is built at
        # start-up, before any table may exist, and never serves a request, so it has none.
        self.column_filters = [spec for column, spec in self.filter_columns if clear(column)] if grant else []
        self.form_columns = [c for c in self.form_fields if writable(c)]
        labels = labels_for(self.policy_key, current_language())
        # Form classes are built from form_args, so labels go in here (per language variant).
        self.form_args = {name: self._field_args(name, labels) for name in self.form_columns}
        self.form_ajax_refs = {k: v for k, v in self.ajax_refs.items() if k in self.form_columns}
        self._search_kinds = {c: kind for c, kind in self.search_kinds.items() if visible(c)}
        self._search_fields = []
        self.can_create = can("create") and bool(self.form_columns)
        self.can_edit = can("edit") and bool(self.form_columns)
        self.can_delete = can("delete")
        self.can_export = can("export")

    def _field_args(self, name, labels):
        """A form field's WTForms arguments: its label, the view's form_args, and checked first: for a number
        the range its column stores (form_rules.storable), for a column of choices that one is chosen."""
        args = {"label": labels.get(name, name), **type(self).form_args.get(name, {})}
        model = getattr(self, "model", None)  # None while the unrestricted template is set up in __init__
        column = model._meta.fields.get(name) if model is not None else None
        fits = form_rules.storable(column)
        if fits is not None:
            args["validators"] = [fits, *args.get("validators", ())]
        if column is not None and column.choices and not column.null and "" not in dict(column.choices):
            args["validators"] = [form_rules.chosen, *args.get("validators", ())]
        return args

    def variant(self, grant):
        key = (grant.key, current_language())
        found = self._variants.get(key)
        if found is not None:
            return found
        with self._variants_lock:
            found = self._variants.get(key)
            if found is None:
                found = copy.copy(self)
                found._configure(grant)
                found._refresh_cache()
                # Copy-on-write: readers never see a half-built dict; stale versions drop out.
                fresh = {k: v for k, v in self._variants.items() if k[0][1] == grant.version}
                fresh[key] = found
                self._variants = fresh
        return found

    def _run_view(self, fn, *args, **kwargs):
        view = self.variant(current_grant())
        h.set_current_view(view)
        return fn(view, *args, **kwargs)

    # --- who may open the screen ----------------------------------------------------
    def grant_allows(self, grant):
        """What a screen needs from the grant beyond `view` on its policy key (its capability's may_view)."""
        return True

    def is_accessible(self):
        if not (current_user.is_authenticated and current_user.is_active):
            return False
        return current_grant().can(self.policy_key, "view") and self.grant_allows(current_grant())

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)

    def is_visible(self):
        return (current_user.is_authenticated and current_grant().can(self.policy_key, "view")
                and self.grant_allows(current_grant()))

    # --- rows -----------------------------------------------------------------------
    def base_query(self):
        return self.model.select()

    def get_query(self):
        return scope_query(self.model, self.base_query(), current_user, current_grant())

    def _parse_pk(self, value):
        """The primary key from a URL or form, or None when it cannot be one.

        peewee's IntegerField.adapt returns non-numbers unchanged, which PostgreSQL then
        rejects with an error instead of finding nothing.
        """
        if isinstance(self.model._meta.primary_key, IntegerField):
            return parse_id(value)
        return value

    def get_one(self, id):
        pk = self._parse_pk(id)
        found = None
        if pk is not None:
            found = self.get_query().where(self.model._meta.primary_key == pk).first()
        if found is None:
            abort(404)  # out of scope looks exactly like missing
        return found

    def init_search(self):
        return bool(self._search_kinds)

    def search_placeholder(self):
        labels = self.column_labels
        return " / ".join(labels.get(c, c) for c in self._search_kinds)

    def search_condition(self, text):
        grant = current_grant()
        condition = None
        for term in searching.terms(text):
            part = searching.condition(
                self.model, self._search_kinds, term, lambda c: grant.clear(self.policy_key, c)
            )
            if part is None:
                return self.model._meta.primary_key.is_null()  # nothing may match: empty result
            condition = part if condition is None else (condition & part)
        return condition

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        query = self.get_query()
        joins = set()
        if self._search_supported and search:
            condition = self.search_condition(search)
            if condition is not None:
                query = query.where(condition)
        if self._filters:
            for index, _name, value in filters:
                flt = self._filters[index]
                query = self._handle_join(query, flt.column, joins)
                query = flt.apply(query, flt.clean(value))
        if sort_column is not None and sort_column in self._sortable_columns:
            order = [(self._sortable_columns[sort_column], sort_desc)]
        else:
            order = self._get_default_order()
        if order:
            query, joins = self._order_by(query, joins, order)
        page_size = self.page_size if page_size is None else page_size
        if page_size:
            query = query.limit(page_size)
            if page and page > 0:  # a crafted ?page=-1 is page 1, not PostgreSQL's negative-OFFSET error
                # ?page=999...9 is an empty page past the end, not an OFFSET too large for the database
                query = query.offset(min(page * page_size, LARGEST_ID))
        if not execute:
            return None, query
        rows = list(query)
        self.attach_related(rows)
        return None, rows

    def attach_related(self, rows):
        """Load the targets of foreign keys shown in lists with one query each, not one per row."""
        for name in self.column_details_list:
            field = self.model._meta.fields.get(name)
            if not isinstance(field, ForeignKeyField):
                continue
            ids = {row.__data__.get(name) for row in rows} - {None}
            if not ids:
                continue
            targets = {t.id: t for t in field.rel_model.select().where(field.rel_model.id.in_(list(ids)))}
            for row in rows:
                target = targets.get(row.__data__.get(name))
                if target is not None:
                    row.__rel__[name] = target

    # --- values: masking and export safety ------------------------------------------
    def _get_list_value(self, context, model, name, column_formatters, column_type_formatters):
        access_level = self._grant.access(self.policy_key, name) if self._grant else "editable"
        if access_level == "hidden":
            return ""
        if access_level == "masked":
            return access.mask(getattr(model, name, None))
        value = super()._get_list_value(context, model, name, column_formatters, column_type_formatters)
        return "" if value is None else value  # a choices column returns None unformatted

    @pass_context
    def get_detail_value(self, context, model, name):
        """The details page's value; a masked value the role may reveal (查看明文) gets a button beside it
        that asks reveal_view for the clear value.  The page itself never holds it."""
        value = super().get_detail_value(context, model, name)
        if self._grant is None or not self._grant.may_reveal(self.policy_key, name):
            return value
        if model.__data__.get(name) in (None, ""):
            return value
        return reveal_button(self, model, name, value)

    @expose("/reveal/", methods=("POST",))
    def reveal_view(self):
        """查看明文: the clear value of one masked column of one record, as JSON, for a role whose column rule
        allows it; every reveal is audited (who, record, column, when; never the value).  Unknown columns and
        records out of scope are 404, a column the role may not reveal 403, each with a Chinese message and
        audited as a refusal; a stale CSRF token is 400 and changes nothing."""
        if not TokenForm(request.form).validate():
            return _json({"error": "页面已过期，请刷新页面后重试"}, 400)
        name = (request.form.get("column") or "")[:60]
        record = (request.form.get("id") or "")[:40]
        if name not in self.model._meta.fields:
            return self._refuse(record, name, 404, "没有这个字段")
        if not current_grant().may_reveal(self.policy_key, name):
            return self._refuse(record, name, 403, "您的角色没有查看此字段明文的权限")
        pk = self._parse_pk(record)
        row = None if pk is None else self.get_query().where(self.model._meta.primary_key == pk).first()
        if row is None:
            return self._refuse(record, name, 404, "记录不存在或不在您的数据范围内")
        value = getattr(row, name)
        audit("reveal", self.policy_key, row.get_id(), {"column": name})
        return _json({"value": "" if value is None else str(value), "column": name}, 200)

    def _refuse(self, record, name, status, message):
        audit("reveal_refused", self.policy_key, record or None, {"column": name, "status": status})
        return _json({"error": message}, status)

    def get_export_value(self, model, name):
        value = super().get_export_value(model, name)
        # no formula a spreadsheet would run, no control character an XLSX cell cannot hold
        return spreadsheet_safe("" if value is None else str(value))

    @expose("/export/<export_type>/")
    def export(self, export_type):
        """Refuse, with a message, an export larger than export_max_rows instead of cutting it short."""
        if self.can_export and export_type in self.export_types:
            args = self._get_list_extra_args()
            _, query = self.get_list(0, None, None, args.search, args.filters, execute=False, page_size=0)
            total = query.order_by().count()
            if total > self.export_max_rows:
                flash(f"要导出的记录有 {total:,} 条，超过单次导出上限 {self.export_max_rows:,} 条，请先用搜索或筛选缩小范围。",
                      "error")
                return redirect(get_redirect_target() or self.get_url(".index_view"))
        return super().export(export_type)

    def _export_data(self):
        count, data = super()._export_data()
        data = list(data)
        audit("export", self.policy_key, changes={"columns": [c for c, _ in self._export_columns]}, rows=len(data))
        return count, data

    def fixed_values(self, model):
        """(label, value) of visible columns this role sees but may not edit, for the edit page."""
        labels = self.column_labels
        return [
            (labels.get(c, c), self._get_list_value(None, model, c, self.column_formatters_detail or {}, {}))
            for c in self.column_details_list
            if c not in self.form_columns
        ]

    # --- writes ---------------------------------------------------------------------
    def handle_view_exception(self, exc):
        """A save that waited for another write past the budget (a PostgreSQL row lock; models.contention)
        says so plainly instead of Flask-Admin's 更新记录失败 with the driver's text; it is rolled back."""
        if contention.is_busy(exc):
            flash(f"{contention.BUSY_MESSAGE}：{contention.BUSY_DETAIL}", "error")
            return True
        kind = constraints.broken(exc)
        if kind is not None:  # the database refused the save: say which rule, not the driver's text
            flash(self._constraint_message(kind, constraints.unique_columns(exc)), "error")
            return True
        return super().handle_view_exception(exc)

    def _constraint_message(self, kind, columns):
        if kind == "unique":
            fields = self._field_names(columns)
            if fields:
                return f"保存失败：已有{'、'.join(fields)}相同的记录，请修改后再提交。"
            return "保存失败：与已有记录重复，请修改后再提交。"
        if kind == "foreign_key":
            return "保存失败：所选的关联记录不存在或已被删除，请刷新页面后重新选择。"
        return "保存失败：有必填项没有填写，请补全后再提交。"

    def _field_names(self, columns):
        """The screen's labels of table columns (a foreign key's column, e.g. customer_id, by its field)."""
        fields = {field.column_name: name for name, field in self.model._meta.fields.items()}
        labels = self.column_labels
        return [str(labels.get(fields.get(column, column), fields.get(column, column))) for column in columns]

    def validate_model(self, model, is_created):
        """Raise ValidationError for rules that span fields; subclasses add theirs."""

    def on_model_change(self, form, model, is_created):
        grant = current_grant()
        if is_created and self.creator_column:
            setattr(model, self.creator_column, current_user.id)
        if self.owner_column:
            if self.owner_column not in self.form_columns:
                if is_created:
                    setattr(model, self.owner_column, current_user.id)
            else:
                allowed = owner_ids(current_user, grant)
                owner = model.__data__.get(self.owner_column)
                # An edit that keeps the stored one (a follow-up another team's user once recorded) is not a choice.
                kept = not is_created and g.get("audit_before", {}).get(self.owner_column) == owner
                if allowed is not None and owner not in allowed and not kept:
                    raise ValidationError(self.owner_refused)
        for name in self.form_columns:
            field = self.model._meta.fields.get(name)
            if isinstance(field, ForeignKeyField) and field.rel_model is Customer:
                customer_id = model.__data__.get(name)
                if customer_id is None or not customer_in_scope(customer_id, current_user, grant):
                    raise ValidationError("客户不存在或不在您的数据范围内")
        self.validate_model(model, is_created)

    def create_model(self, form):
        with db.atomic() as txn:
            created = super().create_model(form)
            if not created:
                txn.rollback()
        return created

    def update_model(self, form, model):
        g.audit_before = dict(model.__data__)
        with db.atomic() as txn:
            ok = super().update_model(form, model)
            if not ok:
                txn.rollback()
        return ok

    def _changes(self, before, after):
        changes = {}
        for name in self.form_columns:
            old, new = before.get(name), after.get(name)
            if name in self.model._meta.fields and old != new:
                hide = name in self.sensitive_columns
                changes[name] = ["***", "***"] if hide else [_plain(old), _plain(new)]
        return changes

    def after_model_change(self, form, model, is_created):
        before = {} if is_created else g.pop("audit_before", {})
        audit("create" if is_created else "update", self.policy_key, model.get_id(), self._changes(before, model.__data__))
        self.customer_changed(model)

    def deleted_values(self, model):
        """What a delete entry records: the row's values, sensitive ones masked (audittrail.deleted_values)."""
        masked = audittrail.values.masked_columns(self.model, self.policy_key, self.sensitive_columns, self._grant)
        return audittrail.deleted_values(model, masked)

    def after_model_delete(self, model):
        audit("delete", self.policy_key, model.get_id(), self.deleted_values(model))  # single and bulk deletes
        self.customer_changed(model)

    def customer_changed(self, model):
        """Tag rules are checked for the customer a saved or deleted record belongs to (an order, a follow-up,
        feedback, a status change, the customer's own fields), in the same transaction as the change."""
        if self.policy_key in RULE_INPUTS:
            customer_id = model.get_id() if isinstance(model, Customer) else model.__data__.get("customer")
            if customer_id is not None:
                pipeline.after_change([customer_id])  # first: a status it moves is an input of the tag rules
                tagrules.after_change([customer_id])
        if self.policy_key == "followup":  # its 下次跟进时间 plans a task; it closes the tasks it fulfils
            reminders.after_change([model.get_id()], user=current_user)

    def delete_model(self, model):
        with db.atomic() as txn:
            ok = super().delete_model(model)
            if not ok:
                txn.rollback()
        return ok

    ROW_ENDPOINTS = (".details_view", ".edit_view")

    def get_url(self, endpoint, **kwargs):
        """Row links (details, edit) from one url_for per page instead of one per row and link.

        Werkzeug's URL building was a tenth of a list page's time; these endpoints take no
        path arguments, so the query string can be appended to their fixed path.
        """
        if endpoint in self.ROW_ENDPOINTS and set(kwargs) <= {"id", "url"}:
            cache = g.setdefault("row_url_bases", {})
            key = (self.endpoint, endpoint)
            if key not in cache:
                cache[key] = super().get_url(endpoint)
            query = urlencode({k: v for k, v in kwargs.items() if v is not None})
            return cache[key] + ("?" + query if query else "")
        return super().get_url(endpoint, **kwargs)

    def get_list_row_actions(self):
        return row_actions.for_view(self)

    def ajax_update(self):
        abort(404)  # in-list editing is off: every write goes through the checked forms

    @action("delete", lazy_gettext("Delete"), lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        """Bulk delete limited to rows in the caller's scope (the stock action ignores get_query)."""
        if not self.can_delete:
            abort(403)
        keys = [k for k in (self._parse_pk(i) for i in ids) if k is not None]
        pk = self.model._meta.primary_key
        with db.atomic():
            rows = list(self.get_query().where(pk.in_(keys))) if keys else []
            for row in rows:
                self.on_model_delete(row)
                row.delete_instance(recursive=True)
                self.after_model_delete(row)
        flash(
            ngettext("Record was successfully deleted.", "%(count)s records were successfully deleted.",
                     len(rows), count=len(rows)),
            "success",
        )


REVEAL_BUTTON = (
    '<span data-reveal-value>{shown}</span> '
    '<button type="button" class="btn btn-outline-secondary btn-sm ml-2" data-reveal-url="{url}" data-reveal-id="{id}" '
    'data-reveal-column="{column}" data-reveal-token="{token}">查看明文</button>'
    '<span class="ml-2 small" data-reveal-message></span>'
)


def reveal_button(view, model, name, shown):
    """The masked value with its 查看明文 button (and, once per page, the script that drives it: a file of
    this site carrying the request's CSP nonce, web/security.py)."""
    html = REVEAL_BUTTON.format(shown=escape(shown), url=escape(view.get_url(".reveal_view")),
                                id=escape(model.get_id()), column=escape(name),
                                token=escape(TokenForm().csrf_token.current_token))
    if not g.get("reveal_script"):
        g.reveal_script = True
        html += (f'<script src="{escape(url_for("static", filename="reveal.js"))}" '
                 f'nonce="{escape(csp_nonce())}" defer></script>')
    return Markup(html)


def _json(payload, status):
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # a revealed value is never kept by a cache
    return response


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime, decimal.Decimal)):
        return str(value)
    return value
