"""Tags on the customer list and the 标签使用情况 screen.

- `TagFilter` and friends: the list's filters 标签 包含任一 / 包含全部 / 不包含 (several tags, picked in a
  tags box) and 标签数 大于 N, added to a customer-list variant when the grant may see tags.
- `TagBatchView` (/admin/tagbatch/, not in the menu): the 批量标签 bar of the customer list posts here.
  The confirmation step counts the customers (selected, or every one matching the list's search and
  filters, rebuilt strictly from the posted list address through the same list query); the apply step
  runs the batch with the count the user confirmed.
- `TagReviewView` (/admin/tagreview/, 基础数据 → 标签使用情况): usage per tag in the viewer's row scope,
  and 停用 (retire) behind a confirmation, 恢复 (restore).

The work is the tagging package's: it asks the policy for the grant and the row scope itself.
"""
import re
from urllib.parse import parse_qsl, urlencode

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import BasePeeweeFilter
from flask_login import current_user

import tagging
from i18n import current_language
from models import Customer
from models.activity import TAG_CATEGORIES

from .secured import PolicyView, TokenForm, current_grant

FILTER_ARG = re.compile(r"flt(\d{1,3})_(\w{1,40})")
HARMLESS_ARGS = ("sort", "desc", "page")  # list arguments that do not change which customers match

TEXT = {
    "zh": {
        # the batch bar on the customer list
        "bar": "批量标签", "tag": "标签", "pick": "选择标签…", "selected": "所选客户",
        "matching": "当前搜索和筛选匹配的全部客户", "add": "添加标签…", "remove": "移除标签…",
        "retired": "已停用", "column": "标签", "crowded": "标签过多：{count} 个",
        "more": "等 {count} 个",
        # confirmation
        "confirm_tag": "确认批量添加标签", "confirm_untag": "确认批量移除标签",
        "scope_selected": "所选的 {count} 位客户", "scope_matching": "当前搜索和筛选匹配的全部客户：{count} 位",
        "criteria": "条件", "search": "搜索“{text}”", "no_criteria": "无搜索和筛选（您数据范围内的全部客户）",
        "will_tag": "将为 {changed} 位客户添加标签“{tag}”。", "already": "{count} 位客户已有此标签，不变。",
        "over": "注意：其中 {count} 位客户添加后标签将超过 {limit} 个。",
        "will_untag": "将从 {changed} 位客户移除手动添加的标签“{tag}”。",
        "kept": "{count} 位客户的此标签由规则添加，保留不动。", "absent": "{count} 位客户没有此标签。",
        "nothing": "没有需要修改的客户，未做任何修改。", "confirm": "确认", "cancel": "返回客户列表",
        "tagged": "已为 {count} 位客户添加标签“{tag}”。", "untagged": "已从 {count} 位客户移除标签“{tag}”。",
        "over_after": "注意：{count} 位客户现在的标签超过 {limit} 个，建议整理。",
        "expired": "表单已过期，请刷新页面后重试。", "bad_operation": "未知的标签操作，未做任何修改。",
        "bad_mode": "请选择范围：所选客户，或匹配的全部客户。",
        "bad_arg": "列表地址中的参数无效：{arg}，未做任何修改。",
        "bad_value": "筛选条件“{name} {operation}”的值无效：{value}，未做任何修改。",
        "no_search": "您不能按此条件搜索，未做任何修改。", "bad_expected": "确认的客户数无效，请重新确认。",
        # review
        "review": "标签使用情况",
        "intro": "每季度检查一次标签库：没有客户使用的标签可以停用。停用后不能再添加，已有的客户标签保留、仍可筛选，随时可以恢复。"
                 "客户数按您的数据范围统计。",
        "category": "分类", "all": "全部", "show": "显示", "show_all": "全部标签", "show_unused": "建议停用",
        "show_retired": "已停用", "name": "标签", "source": "来源", "customers": "客户数", "manual": "手动",
        "rule": "规则", "last_applied": "最近添加", "recent": "近 {days} 天添加", "state": "状态",
        "in_use": "使用中", "unused": "建议停用", "retired_on": "已停用（{day}）", "never": "从未",
        "list": "查看客户", "retire": "停用…", "restore": "恢复", "none": "没有符合条件的标签。",
        "crowded_summary": "您的数据范围内有 {count} 位客户的标签超过 {limit} 个。",
        "bad_category": "未知的分类：{value}，已显示全部分类。",
        "retire_title": "确认停用标签",
        "retire_text": "停用标签“{tag}”？您的数据范围内有 {count} 位客户带有此标签（手动 {manual}，规则 {rule}），最近一次添加：{last}。",
        "retire_effect": "停用后不会再出现在批量标签的选项中，也不能再手动添加；已有的客户标签保留，仍可用于筛选；可随时恢复。此操作会记入审计日志。",
        "retired_done": "已停用标签“{tag}”。", "restored": "已恢复标签“{tag}”。", "back": "返回标签使用情况",
    },
    "en": {
        "bar": "Batch tags", "tag": "Tag", "pick": "Choose a tag…", "selected": "Selected customers",
        "matching": "All customers matching the current search and filters", "add": "Add tag…",
        "remove": "Remove tag…", "retired": "retired", "column": "Tags", "crowded": "Too many tags: {count}",
        "more": "{count} in all",
        "confirm_tag": "Confirm adding a tag", "confirm_untag": "Confirm removing a tag",
        "scope_selected": "{count} selected customers", "scope_matching": "All customers matching the list: {count}",
        "criteria": "Criteria", "search": "search “{text}”",
        "no_criteria": "No search or filter (every customer in your scope)",
        "will_tag": "Tag “{tag}” will be added to {changed} customers.", "already": "{count} already carry it.",
        "over": "Note: {count} of them will carry more than {limit} tags.",
        "will_untag": "Manual tag “{tag}” will be removed from {changed} customers.",
        "kept": "{count} carry it by a rule and keep it.", "absent": "{count} do not carry it.",
        "nothing": "No customer would change; nothing was changed.", "confirm": "Confirm",
        "cancel": "Back to customers",
        "tagged": "Tag “{tag}” added to {count} customers.", "untagged": "Tag “{tag}” removed from {count} customers.",
        "over_after": "Note: {count} customers now carry more than {limit} tags.",
        "expired": "The form has expired; reload the page and try again.",
        "bad_operation": "Unknown tag operation; nothing was changed.",
        "bad_mode": "Choose the customers: the selected ones, or all matching ones.",
        "bad_arg": "Invalid list argument: {arg}; nothing was changed.",
        "bad_value": "Invalid value of filter “{name} {operation}”: {value}; nothing was changed.",
        "no_search": "You cannot search by this; nothing was changed.",
        "bad_expected": "Invalid confirmed count; confirm again.",
        "review": "Tag usage",
        "intro": "Review the tag library each quarter: tags no customer carries can be retired. A retired tag can no "
                 "longer be added; customers keep it and it stays filterable; it can be restored at any time. Counts "
                 "are of the customers in your scope.",
        "category": "Category", "all": "All", "show": "Show", "show_all": "All tags", "show_unused": "Unused",
        "show_retired": "Retired", "name": "Tag", "source": "Source", "customers": "Customers", "manual": "manual",
        "rule": "rule", "last_applied": "Last applied", "recent": "Applied in {days} days", "state": "State",
        "in_use": "in use", "unused": "unused", "retired_on": "retired ({day})", "never": "never",
        "list": "Customers", "retire": "Retire…", "restore": "Restore", "none": "No tags.",
        "crowded_summary": "{count} customers in your scope carry more than {limit} tags.",
        "bad_category": "Unknown category: {value}; showing all.",
        "retire_title": "Retire a tag",
        "retire_text": "Retire tag “{tag}”? {count} customers in your scope carry it (manual {manual}, rule {rule}); "
                       "last applied: {last}.",
        "retire_effect": "It will no longer be offered for tagging; customers keep it and it stays filterable; it can "
                         "be restored. This is recorded in the audit log.",
        "retired_done": "Tag “{tag}” retired.", "restored": "Tag “{tag}” restored.", "back": "Back to tag usage",
    },
}


def text():
    return TEXT[current_language()]


# --- the list's filters -------------------------------------------------------------------
class TagFilter(BasePeeweeFilter):
    """标签 <operation> tag names (comma separated, picked in a tags box); a value that is not a list of
    existing tags is invalid (Flask-Admin then ignores the filter with a message)."""

    condition = None
    operations = {"zh": "", "en": ""}
    kind = ""

    def __init__(self, language="zh"):
        super().__init__(Customer.id, "标签" if language == "zh" else "Tags", options=tagging.filter_options,
                         data_type="select2-tags")

    def validate(self, value):
        return tagging.parse_names(value) is not None

    def clean(self, value):
        return tagging.parse_names(value)

    def apply(self, query, value):
        return query.where(type(self).condition(value))

    def operation(self):
        return self.operations[current_language()]

    def describe(self, value):
        names = tagging.names(tagging.parse_names(value) or [])
        return "、".join(sorted(names.values()))


class TagAnyFilter(TagFilter):
    condition = staticmethod(tagging.any_of)
    operations = {"zh": "包含任一", "en": "any of"}
    kind = "any"


class TagAllFilter(TagFilter):
    condition = staticmethod(tagging.all_of)
    operations = {"zh": "包含全部", "en": "all of"}
    kind = "all"


class TagNoneFilter(TagFilter):
    condition = staticmethod(tagging.none_of)
    operations = {"zh": "不包含", "en": "none of"}
    kind = "none"


class TagCountFilter(BasePeeweeFilter):
    """标签数 大于 N: finds the customers the over-the-limit warning is about."""

    kind = "count"

    def __init__(self, language="zh"):
        super().__init__(Customer.id, "标签数" if language == "zh" else "Number of tags")

    def validate(self, value):
        return str(value).strip().isdigit() and int(value) < 10000

    def clean(self, value):
        return int(str(value).strip())

    def apply(self, query, value):
        return query.where(tagging.more_than(value))

    def operation(self):
        return "大于" if current_language() == "zh" else "greater than"

    def describe(self, value):
        return str(value)


def tag_filters(language):
    return [TagAnyFilter(language), TagAllFilter(language), TagNoneFilter(language), TagCountFilter(language)]


def filter_url(view, kind, value):
    """The customer list filtered by the tag filter of `kind` (any/all/none/count), for `view` (a
    customer-list variant); None when the variant has no such filter."""
    for arg, (_index, flt) in (view._filter_args or {}).items():
        if getattr(flt, "kind", None) == kind:
            return url_for("customer.index_view") + "?" + urlencode({f"flt0_{arg}": str(value)})
    return None


def describe_filter(view, flt, value):
    """'客户状态 等于 意向客户' for the confirmation page and the audit log."""
    if hasattr(flt, "describe"):
        shown = flt.describe(value)
    else:
        options = dict((str(k), str(v)) for k, v in (flt.get_options(view) or ()))
        shown = options.get(str(value), value)
    return f"{flt.name} {flt.operation()} {shown}"


# --- batch tag and untag -------------------------------------------------------------------
class TagBatchView(PolicyView):
    """批量标签: the customer list's bar posts here (confirm, then apply)."""

    policy_key = "tagging"

    def __init__(self, customers, **kwargs):
        self.customers = customers  # the registered customer list view (its variants build the queries)
        super().__init__(**kwargs)

    def is_visible(self):
        return False  # reached from the customer list

    def _list_view(self):
        grant = current_grant()
        if not grant.can("customer", "view"):
            abort(403)
        return self.customers.variant(grant)

    @expose("/")
    def index(self):
        return redirect(url_for("customer.index_view"))

    def _request(self):
        form = request.form
        return {"operation": form.get("operation", ""), "tag": form.get("tag", ""), "mode": form.get("mode", ""),
                "ids": form.getlist("ids"), "query": form.get("query", ""), "expected": form.get("expected")}

    def _pairs(self, query):
        return parse_qsl(query or "", keep_blank_values=True)

    def _back(self, data):
        """The customer list the request came from, rebuilt from its parsed arguments."""
        pairs = self._pairs(data["query"])
        return redirect(url_for("customer.index_view") + ("?" + urlencode(pairs) if pairs else ""))

    def _matching(self, view, query):
        """The list's query of customer ids for the posted list address (search and filters), and a
        description of them; Refused for any argument the list would not accept as given."""
        words = text()
        search, filters, described = "", [], []
        for arg, value in self._pairs(query):
            if arg == "search":
                search = value.strip()
                continue
            if arg in HARMLESS_ARGS:
                continue
            found = FILTER_ARG.fullmatch(arg)
            if not found or found.group(2) not in (view._filter_args or {}):
                raise tagging.Refused(words["bad_arg"].format(arg=arg[:40]))
            index, flt = view._filter_args[found.group(2)]
            choices = None if hasattr(flt, "describe") else flt.get_options(view)
            if not flt.validate(value) or (choices and value not in {str(k) for k, _ in choices}):
                raise tagging.Refused(words["bad_value"].format(name=flt.name, operation=flt.operation(),
                                                                value=value[:40]))
            filters.append((int(found.group(1)), (index, flt.name, value)))
            described.append(describe_filter(view, flt, value))
        if search and not view._search_supported:
            raise tagging.Refused(words["no_search"])
        ordered = [f for _, f in sorted(filters, key=lambda item: item[0])]
        _, query = view.get_list(0, None, None, search, ordered, execute=False, page_size=0)
        criteria = {"search": search, "filters": described} if (search or described) else {}
        return query.select(Customer.id).order_by(), criteria

    def _run(self, data, dry_run):
        """Outcome of the request (tagging checks the policy and the row scope), with its criteria."""
        words = text()
        view = self._list_view()
        if data["operation"] not in ("tag", "untag"):
            raise tagging.Refused(words["bad_operation"])
        if data["mode"] not in ("selected", "matching"):
            raise tagging.Refused(words["bad_mode"])
        expected = None
        if not dry_run:
            if not (data["expected"] or "").isdigit():
                raise tagging.Refused(words["bad_expected"])
            expected = int(data["expected"])
        if data["mode"] == "matching":
            matching, criteria = self._matching(view, data["query"])
            ids = None
        else:
            matching, criteria, ids = None, {}, data["ids"]
        run = tagging.tag if data["operation"] == "tag" else tagging.untag
        outcome = run(data["tag"], current_user, ids=ids, matching=matching, expected=expected, dry_run=dry_run,
                      ip=request.remote_addr, criteria=criteria)
        return outcome, criteria

    def _confirmation(self, data):
        outcome, criteria = self._run(data, dry_run=True)
        return self.render("admin/tags/confirm.html", text=text(), data=data, outcome=outcome, criteria=criteria,
                           limit=tagging.LIMIT, form=TokenForm(),
                           back=url_for("customer.index_view") + ("?" + urlencode(self._pairs(data["query"]))
                                                                  if data["query"] else ""))

    @expose("/confirm/", methods=("POST",))
    def confirm_view(self):
        data = self._request()
        if not TokenForm(request.form).validate():
            flash(text()["expired"], "error")
            return self._back(data)
        try:
            return self._confirmation(data)
        except tagging.Refused as refused:
            flash(str(refused), "error")
            return self._back(data)

    @expose("/apply/", methods=("POST",))
    def apply_view(self):
        words = text()
        data = self._request()
        if not TokenForm(request.form).validate():
            flash(words["expired"], "error")
            return self._back(data)
        try:
            outcome, _criteria = self._run(data, dry_run=False)
        except tagging.Changed as changed:  # the set moved since the confirmation: show the new count
            flash(str(changed), "warning")
            try:
                return self._confirmation(data)
            except tagging.Refused as refused:
                flash(str(refused), "error")
                return self._back(data)
        except tagging.Refused as refused:
            flash(str(refused), "error")
            return self._back(data)
        if not outcome.changed:
            flash(words["nothing"], "warning")
        else:
            message = words["tagged" if outcome.operation == "tag" else "untagged"]
            flash(message.format(count=f"{outcome.changed:,}", tag=outcome.tag.name), "success")
            if outcome.over_limit:
                flash(words["over_after"].format(count=f"{outcome.over_limit:,}", limit=tagging.LIMIT), "warning")
        return self._back(data)


# --- the review screen -----------------------------------------------------------------------
class TagReviewView(PolicyView):
    """标签使用情况: customers per tag in the viewer's scope, last applied, manual/rule; 停用 and 恢复."""

    policy_key = "tag"
    SHOW = ("all", "unused", "retired")

    def __init__(self, customers, **kwargs):
        self.customers = customers
        super().__init__(**kwargs)

    def grant_allows(self, grant):
        return tagging.may_review(grant)

    def _list_links(self):
        grant = current_grant()
        if not (grant.can("customer", "view") and tagging.may_see(grant)):
            return None
        return self.customers.variant(grant)

    @expose("/")
    def index(self):
        words = text()
        category = request.args.get("category", "")
        categories = [c for c, _ in TAG_CATEGORIES]
        if category and category not in categories:
            flash(words["bad_category"].format(value=category[:20]), "warning")
            category = ""
        show = request.args.get("show", "all")
        show = show if show in self.SHOW else "all"
        entries = tagging.usage(current_user)
        if category:
            entries = [e for e in entries if e["tag"].category == category]
        if show == "unused":
            entries = [e for e in entries if e["unused"]]
        elif show == "retired":
            entries = [e for e in entries if e["tag"].retired_at is not None]
        view = self._list_links()
        links = {e["tag"].id: filter_url(view, "any", e["tag"].name) for e in entries} if view else {}
        crowded = tagging.crowded(current_user)
        return self.render("admin/tags/review.html", text=words, entries=entries, categories=categories,
                           category=category, show=show, links=links, crowded=crowded, limit=tagging.LIMIT,
                           crowded_url=filter_url(view, "count", tagging.LIMIT) if view else None,
                           can_retire=tagging.may_retire(current_grant()), recent_days=tagging.RECENT_DAYS,
                           form=TokenForm())

    def _back(self):
        return redirect(self.get_url(".index"))

    @expose("/retire/confirm/", methods=("POST",))
    def retire_confirm_view(self):
        words = text()
        if not TokenForm(request.form).validate():
            flash(words["expired"], "error")
            return self._back()
        if not tagging.may_retire(current_grant()):
            abort(403)
        tag_id = request.form.get("tag_id", "")
        entries = tagging.usage(current_user, tag_ids=[int(tag_id)]) if tag_id.isdigit() and len(tag_id) < 19 else []
        if not entries:
            flash("标签不存在" if current_language() == "zh" else "No such tag", "error")
            return self._back()
        return self.render("admin/tags/retire.html", text=words, entry=entries[0], form=TokenForm())

    def _change(self, action, done):
        words = text()
        if not TokenForm(request.form).validate():
            flash(words["expired"], "error")
            return self._back()
        if not tagging.may_retire(current_grant()):
            abort(403)
        try:
            tag = action(request.form.get("tag_id", ""), current_user, ip=request.remote_addr)
        except tagging.Refused as refused:
            flash(str(refused), "error")
            return self._back()
        flash(words[done].format(tag=tag.name), "success")
        return self._back()

    @expose("/retire/", methods=("POST",))
    def retire_view(self):
        return self._change(tagging.retire, "retired_done")

    @expose("/restore/", methods=("POST",))
    def restore_view(self):
        return self._change(tagging.restore, "restored")
