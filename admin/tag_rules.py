"""标签规则 (基础数据 → 标签规则, /admin/tagrule/): the automatic tag rules, their editing and the preview.

- the list: each rule's tag, condition (read back in Chinese), 启用/停用, the customers it holds in the
  viewer's row scope, the last sweep; 新建 / 编辑 / 预览 / 启用 / 停用 / 删除 for roles that may;
- the form: name, rule tag, the condition tree (JSON, with the metrics of the registry listed beside it),
  enabled, description; 预览 posts the form as it is, without saving, and shows how many and which customers
  it would tag today, how many on the chosen past day, and who gains or loses the tag between the two.

Policy key `tagrule` (access/defaults.py): view = list and preview (customers in one's row scope); create,
edit, delete = changing rules.  The work and its checks are the tagrules package's; every change is
audited there.
"""
import datetime

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_login import current_user
from peewee import fn

import tagrules
from access.scope import scope_query
from i18n import current_language
from models import Customer, Tag, TagRule, TagRuleEpisode
from tagrules import metrics

from .secured import PolicyView, TokenForm, current_grant

TEXT = {
    "zh": {
        "intro": "规则按条件自动给客户添加和移除“规则”标签：每天全量检查一次，订单、跟进、反馈、状态变更和导入之后立即检查相关客户。"
                 "手动标签永远不会被规则改动。客户数按您的数据范围统计。",
        "new": "新建规则", "name": "规则名称", "tag": "标签", "condition": "条件", "enabled": "启用", "state": "状态",
        "on": "启用中", "off": "已停用", "customers": "当前客户数", "swept": "最近全量检查", "never": "尚未",
        "edit": "编辑", "preview": "预览", "enable": "启用", "disable": "停用", "delete": "删除",
        "delete_confirm": "删除此规则？它添加的标签会从客户上移除（其他规则仍持有的除外），此操作会记入审计日志。",
        "none": "还没有标签规则。", "description": "说明", "save": "保存", "back": "返回规则列表",
        "past": "对比日期", "run_preview": "预览（不保存）",
        "condition_help": "条件是一个 JSON 树：{\"all\": [...]} 表示全部满足，{\"any\": [...]} 表示任一满足，可以嵌套；"
                          "每个比较为 {\"metric\": 指标, \"op\": 运算符, \"value\": 值}，带 N 的指标可加 \"days\": N。",
        "metrics": "可用指标", "metric": "指标", "label": "名称", "ops": "运算符", "window": "默认 N", "note": "说明",
        "example": "示例",
        "tag_help": "只能选择来源为“规则”的标签（在 基础数据 → 标签 中新建）。",
        "expired": "表单已过期，请刷新页面后重试。",
        "saved": "已保存规则“{name}”。", "applied": "已按规则更新：新增 {applied} 位客户，移除 {removed} 位客户。",
        "enabled_done": "已启用规则“{name}”。", "disabled_done": "已停用规则“{name}”。", "deleted": "已删除规则“{name}”。",
        "missing": "规则不存在",
        "result_now": "今天（{day}）符合条件：{count} 位客户", "result_past": "{day} 符合条件：{count} 位客户",
        "gained": "新增（{past} 不符合、今天符合）：{count} 位", "lost": "移除（{past} 符合、今天不符合）：{count} 位",
        "scope_note": "只统计和列出您数据范围内的客户；过去日期按当时的订单、跟进、反馈和状态计算（地区、行业等按当前值）。",
        "first": "仅列出前 {limit} 位", "code": "客户编号", "customer_name": "客户名称", "status": "客户状态",
        "episodes": "记录", "episodes_title": "规则“{name}”的添加和移除记录",
        "episodes_intro": "每次客户开始符合条件记为一段（第 1 段、第 2 段……），添加和移除各记录一次。显示您数据范围内最近的 {shown} 段，共 {total} 段。",
        "episode": "段", "applied_on": "添加（按日期）", "removed_on": "移除（按日期）", "by": "来源", "open": "仍持有",
        "by_sweep": "每日检查", "by_change": "变更后检查", "by_import": "导入后检查", "by_edit": "修改规则",
        "by_delete": "删除规则",
        "builder": "条件生成器", "group_all": "全部满足", "group_any": "任一满足", "add_comparison": "添加条件",
        "remove": "删除", "choice_hint": "选项；属于/不属于可用逗号分隔多个", "number_hint": "数字",
        "nested": "条件含嵌套分组，请直接编辑下方 JSON",
        "empty": "无", "tile_now": "今天（{day}）", "tile_past": "{day}", "tile_gained": "将新增标签", "tile_lost": "将移除标签",
    },
    "en": {
        "intro": "Rules add and remove rule tags automatically: a full check daily, and right after orders, follow-ups, "
                 "feedback, status changes and imports for the customers concerned. Manual tags are never touched. "
                 "Counts are of the customers in your scope.",
        "new": "New rule", "name": "Rule", "tag": "Tag", "condition": "Condition", "enabled": "Enabled", "state": "State",
        "on": "enabled", "off": "disabled", "customers": "Customers now", "swept": "Last full check", "never": "not yet",
        "edit": "Edit", "preview": "Preview", "enable": "Enable", "disable": "Disable", "delete": "Delete",
        "delete_confirm": "Delete this rule? Its tags are taken off customers (unless another rule holds them). Audited.",
        "none": "No tag rules yet.", "description": "Description", "save": "Save", "back": "Back to rules",
        "past": "Compare with", "run_preview": "Preview (not saved)",
        "condition_help": "The condition is a JSON tree: {\"all\": [...]} all of, {\"any\": [...]} any of, nested; each "
                          "comparison is {\"metric\": ..., \"op\": ..., \"value\": ...}, plus \"days\": N for metrics over N days.",
        "metrics": "Metrics", "metric": "Metric", "label": "Name", "ops": "Operators", "window": "Default N",
        "note": "Note", "example": "Example",
        "tag_help": "Only tags whose source is “rule” (create them under Tags).",
        "expired": "The form has expired; reload the page and try again.",
        "saved": "Rule “{name}” saved.", "applied": "Applied: {applied} customers gained the tag, {removed} lost it.",
        "enabled_done": "Rule “{name}” enabled.", "disabled_done": "Rule “{name}” disabled.",
        "deleted": "Rule “{name}” deleted.", "missing": "No such rule",
        "result_now": "Today ({day}): {count} customers match", "result_past": "On {day}: {count} customers matched",
        "gained": "Gain (not on {past}, today): {count}", "lost": "Lose (on {past}, not today): {count}",
        "scope_note": "Only customers in your scope. A past day uses the orders, follow-ups, feedback and status of then.",
        "first": "first {limit} listed", "code": "Code", "customer_name": "Name", "status": "Status", "empty": "none",
        "episodes": "Record", "episodes_title": "Applications and removals of rule “{name}”",
        "episodes_intro": "Each time a customer starts matching is one episode; its application and removal are recorded once. The latest {shown} of {total} in your scope.",
        "episode": "Episode", "applied_on": "Applied (day)", "removed_on": "Removed (day)", "by": "By", "open": "holds",
        "by_sweep": "daily check", "by_change": "after a change", "by_import": "after an import", "by_edit": "rule edited",
        "by_delete": "rule deleted",
        "builder": "Condition builder", "group_all": "All of", "group_any": "Any of", "add_comparison": "Add comparison",
        "remove": "Remove", "choice_hint": "an option; several, comma separated, for in / not in",
        "number_hint": "a number", "nested": "Nested groups: edit the JSON below",
        "tile_now": "Today ({day})", "tile_past": "{day}", "tile_gained": "would gain", "tile_lost": "would lose",
    },
}
EPISODES_SHOWN = 200
EXAMPLE = ('{"all": [\n  {"metric": "order_total", "days": 365, "op": ">=", "value": 100000},\n'
           '  {"metric": "region", "op": "in", "value": ["华北", "华东"]}\n]}')


def text():
    return TEXT[current_language()]


class TagRuleView(PolicyView):
    policy_key = "tagrule"

    def grant_allows(self, grant):
        return tagrules.may_view(grant)

    def _back(self):
        return redirect(self.get_url(".index"))

    def _checked(self, action):
        """The form's CSRF token is valid and the grant may `action`; else a message (or 403)."""
        if not TokenForm(request.form).validate():
            flash(text()["expired"], "error")
            return False
        if not tagrules.may_edit(current_grant(), action):
            abort(403)
        return True

    def _rule_id(self, value):
        value = str(value or "").strip()
        return int(value) if value.isdigit() and len(value) < 19 else None

    # --- the list -------------------------------------------------------------------------------
    @expose("/")
    def index(self):
        rules = list(TagRule.select(TagRule, Tag).join(Tag).order_by(TagRule.id))
        scoped = scope_query(Customer, Customer.select(Customer.id), current_user, current_grant())
        held = dict(TagRuleEpisode.select(TagRuleEpisode.rule, fn.COUNT(TagRuleEpisode.id))
                    .where(TagRuleEpisode.removed_at.is_null() & TagRuleEpisode.customer.in_(scoped))
                    .group_by(TagRuleEpisode.rule).tuples())
        rows = [{"rule": r, "condition": _describe(r.condition), "customers": held.get(r.id, 0)} for r in rules]
        grant = current_grant()
        return self.render("admin/tags/rules.html", text=text(), rows=rows, form=TokenForm(),
                           can_create=tagrules.may_edit(grant, "create"), can_edit=tagrules.may_edit(grant, "edit"),
                           can_delete=tagrules.may_edit(grant, "delete"))

    # --- the form and its preview -----------------------------------------------------------------
    def _form_values(self):
        form = request.form
        return {"name": form.get("name", ""), "tag": form.get("tag", ""), "condition": form.get("condition", ""),
                "enabled": form.get("enabled") in ("1", "y", "on"), "description": form.get("description", "")}

    def _render_form(self, values, rule_id=None, result=None, past=None, status=200):
        today = datetime.date.today()
        tags = list(Tag.select().where((Tag.source == "rule") & Tag.retired_at.is_null()).order_by(Tag.name))
        grant = current_grant()
        may_save = tagrules.may_edit(grant, "create" if rule_id is None else "edit")
        words = text()
        metrics_json = [{"name": m.name, "label": m.label, "kind": m.kind, "window": m.window,
                         "ops": [[op, metrics.OP_LABELS[op]] for op in m.ops],
                         "choices": m.choices() if m.choices else None} for m in metrics.available()]
        builder_words = {key: words[key] for key in ("remove", "choice_hint", "number_hint", "nested")}
        return self.render("admin/tags/rule_form.html", text=words, values=values, rule_id=rule_id, tags=tags,
                           metrics_json=metrics_json, builder_words=builder_words,
                           metrics=metrics.available(), op_labels=metrics.OP_LABELS, example=EXAMPLE, form=TokenForm(),
                           result=result, past=past or (today - datetime.timedelta(days=30)).isoformat(),
                           today=today.isoformat(), may_save=may_save,
                           customer_link=grant.can("customer", "view")), status

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        if not tagrules.may_edit(current_grant(), "create"):
            abort(403)
        if request.method == "GET":
            return self._render_form({"name": "", "tag": "", "condition": EXAMPLE, "enabled": False,
                                      "description": ""})
        return self._save(None)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        rule_id = self._rule_id(request.args.get("id"))
        rule = TagRule.get_or_none(TagRule.id == rule_id) if rule_id else None
        if rule is None:
            abort(404)
        if request.method == "GET":
            return self._render_form(_values(rule), rule.id)
        return self._save(rule.id)

    def _save(self, rule_id):
        words = text()
        values = self._form_values()
        if not self._checked("create" if rule_id is None else "edit"):
            return self._render_form(values, rule_id, status=400)
        try:
            rule, result = tagrules.save(values, current_user, rule_id=rule_id, ip=request.remote_addr)
        except (tagrules.Invalid, tagrules.Refused) as refused:
            flash(str(refused), "error")
            return self._render_form(values, rule_id, status=400)
        flash(words["saved"].format(name=rule.name), "success")
        if result is not None and result.changed:
            flash(words["applied"].format(applied=result.applied, removed=result.removed), "info")
        return self._back()

    @expose("/preview/", methods=("GET", "POST"))
    def preview_view(self):
        """POST: the form as it stands (nothing saved); GET ?id=: a saved rule."""
        if request.method == "POST":
            values = self._form_values()
            rule_id = self._rule_id(request.form.get("rule_id"))
            if not TokenForm(request.form).validate():
                flash(text()["expired"], "error")
                return self._render_form(values, rule_id, status=400)
            past = request.form.get("past", "")
        else:
            rule_id = self._rule_id(request.args.get("id"))
            rule = TagRule.get_or_none(TagRule.id == rule_id) if rule_id else None
            if rule is None:
                abort(404)
            values = _values(rule)
            past = request.args.get("past") or None
        try:
            result = tagrules.preview(values["condition"], current_user, past=past)
        except tagrules.Invalid as invalid:
            flash(str(invalid), "error")
            return self._render_form(values, rule_id, past=past, status=400)
        return self._render_form(values, rule_id, result=result, past=result.past.isoformat())

    # --- the record of applications and removals ---------------------------------------------------
    @expose("/episodes/")
    def episodes_view(self):
        """The latest episodes of a rule (who got the tag when, by what, and when it went), in the viewer's scope."""
        rule_id = self._rule_id(request.args.get("id"))
        rule = TagRule.get_or_none(TagRule.id == rule_id) if rule_id else None
        if rule is None:
            abort(404)
        scoped = scope_query(Customer, Customer.select(Customer.id), current_user, current_grant())
        query = (TagRuleEpisode.select(TagRuleEpisode, Customer.id, Customer.code, Customer.name)
                 .join(Customer).where((TagRuleEpisode.rule == rule.id) & TagRuleEpisode.customer.in_(scoped)))
        total = query.count()
        rows = list(query.order_by(fn.COALESCE(TagRuleEpisode.removed_at, TagRuleEpisode.applied_at).desc(),
                                   TagRuleEpisode.id.desc()).limit(EPISODES_SHOWN))
        grant = current_grant()
        hide = {c: grant.access("customer", c) for c in ("code", "name")}
        return self.render("admin/tags/rule_episodes.html", text=text(), rule=rule, rows=rows, total=total,
                           shown=EPISODES_SHOWN, access=hide, mask=_mask, customer_link=grant.can("customer", "view"))

    # --- enable, disable, delete ------------------------------------------------------------------
    @expose("/toggle/", methods=("POST",))
    def toggle_view(self):
        words = text()
        if not self._checked("edit"):
            return self._back()
        enable = request.form.get("enabled") == "1"
        try:
            rule, result = tagrules.set_enabled(self._rule_id(request.form.get("rule_id")), enable, current_user,
                                                ip=request.remote_addr)
        except tagrules.Refused as refused:
            flash(str(refused), "error")
            return self._back()
        flash(words["enabled_done" if enable else "disabled_done"].format(name=rule.name), "success")
        if result.changed:
            flash(words["applied"].format(applied=result.applied, removed=result.removed), "info")
        return self._back()

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        if not self._checked("delete"):
            return self._back()
        try:
            snapshot = tagrules.delete(self._rule_id(request.form.get("rule_id")), current_user, ip=request.remote_addr)
        except tagrules.Refused as refused:
            flash(str(refused), "error")
            return self._back()
        flash(text()["deleted"].format(name=snapshot["name"]), "success")
        return self._back()


def _mask(value, level):
    import access

    return "" if level == "hidden" else access.mask(value) if level == "masked" else value


def _values(rule):
    return {"name": rule.name, "tag": rule.tag.name, "condition": _pretty(rule.condition), "enabled": rule.enabled,
            "description": rule.description or ""}


def _pretty(condition):
    try:
        return tagrules.dumps(tagrules.parse(condition))
    except tagrules.Invalid:
        return condition


def _describe(condition):
    try:
        return tagrules.describe(tagrules.parse(condition))
    except tagrules.Invalid as invalid:  # a metric was removed from the registry since: say so
        return f"（条件无效：{invalid}）"
