"""Screens over customer records: customers, follow-ups, orders, feedback, status, tags."""
from flask import abort, flash, g, request
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext, ngettext
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from wtforms import SelectField, StringField
from wtforms.validators import ValidationError

import dedup
import tagging
from access.scope import owner_ids
from i18n import current_language
from models import Choice, Customer, CustomerTag, Feedback, FollowUp, Order, StatusChange, Tag, User, db
from models import validation as rules
from models.activity import FEEDBACK_KINDS, FEEDBACK_STATUSES, FOLLOW_METHODS, FOLLOW_RESULTS
from models.customers import CUSTOMER_TYPES, STATUSES

from . import form_rules
from . import tagging as tag_screens
from .lookups import ScopedCustomerLoader, ScopedOwnerLoader
from .secured import PolicyModelView, TokenForm, current_grant, parse_id


def _choices(kind):
    return lambda: [(n, n) for n in Choice.names(kind)]


class CustomerView(PolicyModelView):
    list_columns = ("code", "name", "customer_type", "contact", "mobile", "industry", "region", "owner", "status",
                    "annual_revenue", "updated_at")
    detail_columns = ("code", "name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region",
                      "source", "address", "employees", "annual_revenue", "needs", "notes", "first_contact", "owner",
                      "status", "id_number", "bank_account", "consent_purpose", "consent_at", "consent_withdrawn_at",
                      "anonymised_at", "created_at", "updated_at")
    form_fields = ("code", "name", "customer_type", "contact", "mobile", "phone", "email", "industry", "region",
                   "source", "address", "employees", "annual_revenue", "needs", "notes", "first_contact", "owner",
                   "id_number", "bank_account", "consent_purpose", "consent_at", "consent_withdrawn_at")
    search_kinds = {"name": "fragment", "contact": "fragment", "mobile": "mobile", "code": "prefix",
                    "email": "email", "id_number": "sealed", "bank_account": "sealed"}
    sortable_columns = ("code", "name", "first_contact", "status", "annual_revenue", "created_at", "updated_at")
    filter_columns = (
        ("status", FilterEqual(Customer.status, "客户状态", options=STATUSES)),
        ("customer_type", FilterEqual(Customer.customer_type, "客户类型", options=CUSTOMER_TYPES)),
        ("industry", FilterEqual(Customer.industry, "所属行业", options=_choices("industry"))),
        ("region", FilterEqual(Customer.region, "所属地区", options=_choices("region"))),
        ("source", FilterEqual(Customer.source, "客户来源", options=_choices("source"))),
        ("first_contact", "first_contact"),
        ("annual_revenue", "annual_revenue"),
    )
    ajax_refs = {"owner": ScopedOwnerLoader("owner")}
    owner_column = "owner"
    list_template = "admin/customer_list.html"  # the list plus its tags column and the 批量标签 bar
    details_template = "admin/customer_details.html"
    create_template = "admin/customer_create.html"
    edit_template = "admin/customer_edit.html"  # policy_edit.html plus the duplicate warning
    # Fields the duplicate check reads; an edit that changes none of them is not checked again.
    duplicate_fields = ("name", "customer_type", "contact", "mobile", "phone", "email", "address", "id_number")
    form_overrides = {"industry": SelectField, "region": SelectField, "source": SelectField,
                      "id_number": StringField, "bank_account": StringField, "needs": StringField}
    form_args = {
        # Optional, and not `required` in the HTML either, or the browser refuses to submit a blank code.
        "code": {**form_rules.CODE, "description": "留空则按 区域-行业-年份-序号 自动生成",
                 "render_kw": {"required": False}},
        "mobile": form_rules.MOBILE,
        "phone": form_rules.PHONE,
        "email": form_rules.EMAIL,
        "industry": {"choices": []},
        "region": {"choices": []},
        "source": {"choices": []},
        "employees": {"validators": [form_rules.positive]},
        "annual_revenue": {"validators": [form_rules.positive]},
        "name": {"filters": [form_rules.strip]},
        "contact": {"filters": [form_rules.strip]},
        "address": {"filters": [form_rules.strip]},
        "id_number": {"filters": [form_rules.upper]},
        "bank_account": {"filters": [form_rules.strip]},
    }

    def _configure(self, grant):
        super()._configure(grant)
        # Filters by tags (admin/tagging.py) for grants that may see tags; their options (the tag library)
        # are frozen with the variant, so tag edits bump the policy version (TagView, retire, restore).
        # First in the list: Flask-Admin numbers filter arguments by position, and the column filters after
        # them keep the numbers they have for every role that sees tags (all of the default roles).
        if grant is not None and tagging.may_see(grant):
            self.column_filters = tag_screens.tag_filters(current_language()) + list(self.column_filters)

    def get_invalid_value_msg(self, value, filter):
        if isinstance(filter, tag_screens.TagFilter):
            return f"标签筛选条件无效：“{value}”不是标签库中的标签，已忽略该条件。"
        return super().get_invalid_value_msg(value, filter)

    def attach_related(self, rows):
        super().attach_related(rows)
        if self._grant is not None and tagging.may_see(self._grant):
            g.customer_tags = tagging.tags_of([row.id for row in rows])  # one query for the page's tags column

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["tag_tools"] = self.tag_tools()
        return super().render(template, **kwargs)

    def tag_tools(self):
        """What the list shows of tags for this user: the tags column, and the batch bar's choices."""
        grant = current_grant()
        if not tagging.may_see(grant):
            return None
        operations = [op for op in ("tag", "untag") if tagging.may(grant, op)]
        return {"rows": g.pop("customer_tags", {}), "operations": operations, "limit": tagging.LIMIT,
                "choices": tagging.offered("untag") if operations else [], "text": tag_screens.text(),
                "query": request.query_string.decode("utf-8", "replace"), "form": TokenForm() if operations else None}

    def tag_warning(self, customer):
        """The over-the-limit warning of the details page, or None."""
        if not tagging.may_see(current_grant()):
            return None
        count = CustomerTag.select().where(CustomerTag.customer == customer.id).count()
        if count <= tagging.LIMIT:
            return None
        if current_language() == "zh":
            return f"该客户有 {count} 个标签，超过 {tagging.LIMIT} 个：标签太多就不再能区分客户，建议整理。"
        return f"This customer carries {count} tags, more than {tagging.LIMIT}: consider tidying them."

    def _fill_choices(self, form, obj=None):
        for kind in ("industry", "region", "source"):
            if hasattr(form, kind):
                names = Choice.names(kind)
                current = getattr(obj, kind, None) if obj else None
                if current and current not in names:
                    names.append(current)  # a renamed list entry must not blank the record on save
                getattr(form, kind).choices = [("", "—")] + [(n, n) for n in names]
        form._obj = obj
        return form

    def create_form(self, obj=None):
        return self._fill_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._fill_choices(super().edit_form(obj), obj)

    def validate_model(self, model, is_created):
        # an anonymised customer (privacy.erase) has no contact left by design; its consent dates stay editable
        message = None if model.anonymised_at else rules.check_contact_present(model.mobile, model.phone)
        if message:
            raise ValidationError(message)
        if model.consent_at and model.consent_withdrawn_at and model.consent_withdrawn_at < model.consent_at:
            raise ValidationError("撤回同意日期不能早于同意日期")
        self.check_duplicates(model, is_created)

    def check_duplicates(self, model, is_created):
        """Before anything is written: stored customers (in the caller's scope) these values probably
        duplicate are listed above the form with links, and the save waits until the user ticks
        不是同一客户，仍然保存 (confirm_duplicates)."""
        if request.form.get("confirm_duplicates") == "1":
            return
        if not is_created:
            before = g.get("audit_before", {})
            if all(before.get(f) == model.__data__.get(f) for f in self.duplicate_fields):
                return
        values = {f: getattr(model, f) for f in self.duplicate_fields}
        matches = dedup.probable_duplicates(values, exclude_id=model.id,
                                            owner_ids=owner_ids(current_user, current_grant()))
        if matches:
            g.duplicate_matches = matches
            raise ValidationError("可能与已有客户重复：请核对表单上方列出的客户；确认不是同一客户，"
                                  "请勾选“不是同一客户，仍然保存”后再保存。")

    def after_model_change(self, form, model, is_created):
        if is_created:
            StatusChange.create(customer=model, from_status=None, to_status=model.status, reason="新建客户",
                                user=current_user.id)
        super().after_model_change(form, model, is_created)

    def related_sections(self, customer):
        """Follow-ups, orders, tags, feedback and status history, each through its own view's policy."""
        sections = []
        for view in self.admin._views:
            if isinstance(view, PolicyModelView) and view is not self and getattr(view.model, "customer", None):
                grant = current_grant()
                if not grant.can(view.policy_key, "view"):
                    continue
                variant = view.variant(grant)
                columns = [c for c in variant.column_list if c != "customer"]
                rows = list(variant.get_query().where(view.model.customer == customer.id)
                            .order_by(view.model.id.desc()).limit(50))
                variant.attach_related(rows)
                sections.append({"view": variant, "columns": columns, "rows": rows})
        return sections


class CustomerChildView(PolicyModelView):
    """Records that belong to one customer, picked through a scoped AJAX lookup."""

    ajax_refs = {"customer": ScopedCustomerLoader("customer")}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        customer_id = parse_id(request.args.get("customer_id"))
        if customer_id and hasattr(form, "customer") and request.method == "GET":
            form.customer.data = self._form_ajax_refs["customer"].get_one(customer_id)
        return form


class FollowUpView(CustomerChildView):
    """跟进记录 with the seed's columns in its order (记录ID, 客户编号, 跟进时间, 跟进方式, 跟进内容, 下次跟进时间, 跟进人,
    跟进结果).  跟进人 is picked like a customer's owner: only users inside the caller's row scope (a manager records
    a follow-up on behalf of a rep of the team, a rep only for themselves); where the role's column rule makes it
    read-only or hidden, it is the one who records it."""

    list_columns = ("record_no", "customer", "at", "method", "content", "next_date", "user", "result")
    detail_columns = list_columns
    form_fields = ("customer", "at", "method", "content", "next_date", "user", "result")
    search_kinds = {"record_no": "prefix", "content": "fragment"}
    sortable_columns = ("record_no", "at", "next_date")
    filter_columns = (
        ("method", FilterEqual(FollowUp.method, "跟进方式", options=FOLLOW_METHODS)),
        ("result", FilterEqual(FollowUp.result, "跟进结果", options=FOLLOW_RESULTS)),
        ("at", "at"),
        ("next_date", "next_date"),
    )
    ajax_refs = {**CustomerChildView.ajax_refs, "user": ScopedOwnerLoader("user")}
    owner_column = "user"
    owner_refused = "跟进人只能是您的数据范围内的用户（本人或您团队的成员）"
    # The seed's 客户编号 column: the code first, then the name to recognise it by.
    column_formatters = {"customer": lambda view, context, model, name: (
        f"{model.customer.code} {model.customer.name}" if model.customer_id else "")}

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if hasattr(form, "user") and request.method == "GET" and form.user.data is None:
            form.user.data = self._form_ajax_refs["user"].get_one(current_user.id)  # 跟进人: oneself by default
        return form

    def on_model_change(self, form, model, is_created):
        if "user" in self.form_columns and model.user_id is None and (request.form.get("user") or "").strip():
            raise ValidationError(self.owner_refused)  # the picker finds only users in scope: a crafted one reads as none
        if is_created and model.user_id is None:  # 跟进人 left empty: the one recording it, as the form suggests
            model.user = current_user.id
        super().on_model_change(form, model, is_created)


class OrderView(CustomerChildView):
    list_columns = ("order_no", "customer", "ordered_at", "amount", "quantity", "product", "channel")
    detail_columns = list_columns
    form_fields = list_columns
    search_kinds = {"order_no": "prefix", "product": "fragment"}
    sortable_columns = ("order_no", "ordered_at", "amount", "quantity")
    filter_columns = (("ordered_at", "ordered_at"), ("amount", "amount"), ("channel", "channel"))
    form_args = {"amount": {"validators": [form_rules.positive]}, "quantity": {"validators": [form_rules.positive]}}


class FeedbackView(CustomerChildView):
    list_columns = ("customer", "kind", "score", "content", "status", "created_at")
    detail_columns = ("customer", "kind", "score", "content", "status", "created_at")
    form_fields = ("customer", "kind", "score", "content", "status")
    search_kinds = {"content": "fragment"}
    sortable_columns = ("score", "status", "created_at")
    filter_columns = (
        ("kind", FilterEqual(Feedback.kind, "类型", options=FEEDBACK_KINDS)),
        ("status", FilterEqual(Feedback.status, "状态", options=FEEDBACK_STATUSES)),
    )
    form_args = {"score": {"validators": [form_rules.score_range]}}


class StatusChangeView(CustomerChildView):
    """History is append-only: a change is created here and applied to the customer in the same transaction."""

    list_columns = ("customer", "from_status", "to_status", "reason", "user", "at")
    detail_columns = list_columns
    form_fields = ("customer", "to_status", "reason")
    sortable_columns = ("at",)
    filter_columns = (("to_status", FilterEqual(StatusChange.to_status, "新状态", options=STATUSES)),)
    creator_column = "user"

    def _configure(self, grant):
        super()._configure(grant)
        self.can_edit = self.can_delete = False

    def validate_model(self, model, is_created):
        if not (model.reason or "").strip():
            raise ValidationError("请填写状态变更原因")
        customer = Customer.get_by_id(model.customer_id)
        if customer.status == model.to_status:
            raise ValidationError("新状态与当前状态相同")
        model.from_status = customer.status
        Customer.update(status=model.to_status).where(Customer.id == customer.id).execute()


class CustomerTagView(CustomerChildView):
    """One customer's tag by hand: manual tags of the library only; rows a rule added are the rules' to
    change (docs/tags.md)."""

    list_columns = ("customer", "tag", "source", "created_at")
    detail_columns = list_columns
    form_fields = ("customer", "tag")
    sortable_columns = ("created_at",)

    def validate_model(self, model, is_created):
        if model.source == "rule":
            raise ValidationError("规则添加的客户标签由标签规则维护，不能手动修改")
        tag = Tag.get_or_none(Tag.id == model.tag_id)
        if tag is None:
            raise ValidationError("标签不存在")
        changed = is_created or g.get("audit_before", {}).get("tag") != model.tag_id
        if changed and tag.source != "manual":
            raise ValidationError(f"“{tag.name}”是规则标签，由标签规则自动添加和移除，不能手动添加")
        if changed and tag.retired_at is not None:
            raise ValidationError(f"标签“{tag.name}”已停用，不能再添加")
        duplicate = CustomerTag.select().where(
            (CustomerTag.customer == model.customer_id) & (CustomerTag.tag == model.tag_id)
        )
        if model.id:
            duplicate = duplicate.where(CustomerTag.id != model.id)
        if duplicate.exists():
            raise ValidationError("该客户已有此标签")

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        count = CustomerTag.select().where(CustomerTag.customer == model.customer_id).count()
        if count > tagging.LIMIT:
            flash(f"该客户现在有 {count} 个标签，超过 {tagging.LIMIT} 个，建议整理。", "warning")

    def on_model_delete(self, model):
        if model.source == "rule":
            raise ValidationError("规则添加的客户标签由标签规则维护，不能手动删除")

    @action("delete", lazy_gettext("Delete"), lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        """Bulk delete of the selected rows in scope that were added by hand; rule rows stay, with a message."""
        if not self.can_delete:
            abort(403)
        keys = [k for k in (self._parse_pk(i) for i in ids) if k is not None]
        with db.atomic():
            rows = list(self.get_query().where(CustomerTag.id.in_(keys))) if keys else []
            manual = [row for row in rows if row.source != "rule"]
            for row in manual:
                row.delete_instance()
                self.after_model_delete(row)
        flash(ngettext("Record was successfully deleted.", "%(count)s records were successfully deleted.",
                       len(manual), count=len(manual)), "success")
        if len(rows) > len(manual):
            flash(f"{len(rows) - len(manual)} 条由规则添加的客户标签未删除：它们由标签规则维护。", "warning")


__all__ = ["CustomerView", "FollowUpView", "OrderView", "FeedbackView", "StatusChangeView", "CustomerTagView", "User"]
