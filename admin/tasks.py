"""我的任务 (/admin/tasks/) and 基础数据 → 提醒规则 (/admin/reminderrule/).

我的任务: the open tasks in the viewer's row scope in three groups — 已逾期, 今天到期, 即将到期 (14 days) — with counts;
a manager (or anyone whose scope spans several people) sees the 负责人 column and can pick one person.  A task is
done by recording a follow-up: 记录跟进 opens the follow-up form with the customer filled in; with `task` edit it is
also closed by hand — 完成 with an optional note — and one completed by hand lately can be reopened (重新打开).
Policy key `task`.

提醒规则: the reminder rules (tag, task, within/every N days, the follow-up method that counts, enabled) with the
open tasks each holds in the viewer's scope; 新建 / 编辑 / 启用 / 停用 / 删除 for roles that may.  Policy key
`reminderrule`.  The work and its checks are the reminders package's; every change is audited there.
"""
import datetime

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_login import current_user
from peewee import fn

import access
import reminders
from i18n import current_language
from models import Customer, ReminderRule, Tag, Task
from models.activity import FOLLOW_METHODS
from models.tasks import RULE_KINDS

from .secured import PolicyView, TokenForm, current_grant

BOARD_TEXT = {
    "zh": {"intro": "您数据范围内的待办任务：跟进记录的“下次跟进时间”和提醒规则生成，记录一次跟进即完成。",
           "overdue": "已逾期", "today": "今天到期", "upcoming": "即将到期（{days} 天内）", "due_on": "到期日",
           "customer": "客户", "task": "任务", "origin": "来源", "assignee": "负责人", "state": "状态",
           "late": "逾期 {days} 天", "due_today": "今天", "in_days": "{days} 天后", "record": "记录跟进",
           "everyone": "全部负责人", "filter": "筛选", "none": "没有任务。", "first": "仅列出前 {limit} 项",
           "note": "备注", "intro_edit": "客户已联系过但无需记录跟进时，可直接点“完成”（可填写备注）；误点可在“最近手动完成”中重新打开。",
           "complete": "完成", "note_hint": "备注（可选）", "reopen": "重新打开",
           "done": "最近手动完成（{days} 天内）", "closed_at": "完成时间", "closed_by": "完成人",
           "completed": "已完成任务“{title}”（{customer}）。", "reopened": "已重新打开任务“{title}”（{customer}）。",
           "expired": "表单已过期，请刷新页面后重试。"},
    "en": {"intro": "Open tasks in your scope, from follow-ups' next dates and reminder rules; recording a follow-up "
                    "completes them.",
           "overdue": "Overdue", "today": "Due today", "upcoming": "Upcoming (next {days} days)", "due_on": "Due",
           "customer": "Customer", "task": "Task", "origin": "From", "assignee": "Assignee", "state": "State",
           "late": "{days} days late", "due_today": "today", "in_days": "in {days} days", "record": "Record follow-up",
           "everyone": "Everyone", "filter": "Filter", "none": "No tasks.", "first": "first {limit} listed",
           "note": "Note", "intro_edit": "A task that needs no follow-up record can be closed with Done (with an "
                                         "optional note); one closed by mistake can be reopened below.",
           "complete": "Done", "note_hint": "Note (optional)", "reopen": "Reopen",
           "done": "Completed by hand (last {days} days)", "closed_at": "Completed", "closed_by": "By",
           "completed": "Task “{title}” ({customer}) completed.", "reopened": "Task “{title}” ({customer}) reopened.",
           "expired": "The form has expired; reload the page and try again."},
}
RULE_TEXT = {
    "zh": {"intro": "带某个标签的客户按规则生成任务，交给客户负责人：“N天内”在客户带上标签后 N 天内到期（每次带上标签一次）；"
                    "“每N天”从最近一次符合的跟进（或带上标签时，取较晚者）起每 N 天到期。记录符合跟进方式的跟进即完成任务。"
                    "每天全量检查一次。每个客户每条规则最多一个未完成任务。",
           "new": "新建提醒规则", "name": "规则名称", "tag": "标签", "action": "任务内容", "kind": "提醒方式",
           "days": "天数 N", "method": "完成所需的跟进方式", "any": "任何跟进", "enabled": "启用", "state": "状态",
           "on": "启用中", "off": "已停用", "open": "未完成任务", "swept": "最近检查", "never": "尚未",
           "edit": "编辑", "enable": "启用", "disable": "停用", "delete": "删除", "save": "保存", "back": "返回提醒规则",
           "delete_confirm": "删除此提醒规则？它的未完成任务将关闭（已完成的保留为记录），此操作会记入审计日志。",
           "none": "还没有提醒规则。", "description": "说明", "expired": "表单已过期，请刷新页面后重试。",
           "saved": "已保存提醒规则“{name}”。", "applied": "已按规则更新任务：新建 {opened} 项，关闭 {closed} 项。",
           "enabled_done": "已启用提醒规则“{name}”。", "disabled_done": "已停用提醒规则“{name}”。",
           "deleted": "已删除提醒规则“{name}”。", "within": "{days} 天内", "every": "每 {days} 天"},
    "en": {"intro": "Customers carrying a tag get tasks for their owner: “within N days” of getting the tag (once each "
                    "time), or “every N days” from the last matching follow-up. A matching follow-up completes the task. "
                    "Checked daily; at most one open task per customer and rule.",
           "new": "New reminder rule", "name": "Rule", "tag": "Tag", "action": "Task", "kind": "Kind", "days": "N days",
           "method": "Follow-up that completes it", "any": "any follow-up", "enabled": "Enabled", "state": "State",
           "on": "enabled", "off": "disabled", "open": "Open tasks", "swept": "Last check", "never": "not yet",
           "edit": "Edit", "enable": "Enable", "disable": "Disable", "delete": "Delete", "save": "Save",
           "back": "Back to reminder rules",
           "delete_confirm": "Delete this reminder rule? Its open tasks close (done ones stay). Audited.",
           "none": "No reminder rules yet.", "description": "Description",
           "expired": "The form has expired; reload the page and try again.", "saved": "Reminder rule “{name}” saved.",
           "applied": "Tasks updated: {opened} opened, {closed} closed.",
           "enabled_done": "Reminder rule “{name}” enabled.", "disabled_done": "Reminder rule “{name}” disabled.",
           "deleted": "Reminder rule “{name}” deleted.", "within": "within {days} days", "every": "every {days} days"},
}


def _int(value):
    value = str(value or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


class TaskBoardView(PolicyView):
    policy_key = "task"

    def grant_allows(self, grant):
        return reminders.may_view_tasks(grant)

    @expose("/")
    def index(self):
        words = BOARD_TEXT[current_language()]
        assignee = _int(request.args.get("assignee"))
        board = reminders.board(current_user, today=datetime.date.today(), assignee=assignee)
        if assignee is not None and assignee not in {i for i, _ in board.assignees}:
            board = reminders.board(current_user, today=datetime.date.today())
        grant = current_grant()
        return self.render("admin/tasks/board.html", text=words, board=board,
                           upcoming_days=reminders.listing.UPCOMING_DAYS, recent_days=reminders.listing.RECENT_DAYS,
                           can_follow=grant.can("followup", "create"), can_customer=grant.can("customer", "view"),
                           form=TokenForm(), note_max=reminders.closing.NOTE_MAX)

    def _after(self):
        assignee = _int(request.form.get("assignee"))
        return redirect(self.get_url(".index", **({"assignee": assignee} if assignee is not None else {})))

    def _close_or_open(self, act, message):
        """完成 / 重新打开: POST with the CSRF token; 403 without task edit; a task out of scope or not in the
        state the button expects gets a Chinese message and nothing changes (reminders.closing)."""
        words = BOARD_TEXT[current_language()]
        if not reminders.may_edit_tasks(current_grant()):
            abort(403)
        if not TokenForm(request.form).validate():
            flash(words["expired"], "error")
            return self._after()
        try:
            task = act()
        except reminders.TaskRefused as refused:
            flash(str(refused), "error")
            return self._after()
        except PermissionError:
            abort(403)
        customer = Customer.select(Customer.name).where(Customer.id == task.customer_id).scalar() or ""
        level = current_grant().access("customer", "name")
        shown = "" if level == "hidden" else access.mask(customer) if level == "masked" else customer
        flash(words[message].format(title=task.title, customer=shown), "success")
        return self._after()

    @expose("/complete/", methods=("POST",))
    def complete_view(self):
        return self._close_or_open(lambda: reminders.complete(request.form.get("task_id"), current_user,
                                                              note=request.form.get("note"),
                                                              ip=request.remote_addr), "completed")

    @expose("/reopen/", methods=("POST",))
    def reopen_view(self):
        return self._close_or_open(lambda: reminders.reopen(request.form.get("task_id"), current_user,
                                                            ip=request.remote_addr), "reopened")


class ReminderRuleView(PolicyView):
    policy_key = "reminderrule"

    def _back(self):
        return redirect(self.get_url(".index"))

    def _checked(self, action):
        if not TokenForm(request.form).validate():
            flash(RULE_TEXT[current_language()]["expired"], "error")
            return False
        if not reminders.may_edit_rules(current_grant(), action):
            abort(403)
        return True

    @expose("/")
    def index(self):
        words = RULE_TEXT[current_language()]
        rules = list(ReminderRule.select(ReminderRule, Tag).join(Tag).order_by(ReminderRule.id))
        scope = reminders.scoped_customers(current_user, current_grant())
        held = dict(Task.select(Task.rule, fn.COUNT(Task.id))
                    .where((Task.status == "open") & Task.rule.is_null(False) & Task.customer.in_(scope))
                    .group_by(Task.rule).tuples())
        rows = [{"rule": r, "kind": words[r.kind].format(days=f"{r.days:,}"), "open": held.get(r.id, 0)} for r in rules]
        grant = current_grant()
        return self.render("admin/tasks/rules.html", text=words, rows=rows, form=TokenForm(),
                           can_create=reminders.may_edit_rules(grant, "create"),
                           can_edit=reminders.may_edit_rules(grant, "edit"),
                           can_delete=reminders.may_edit_rules(grant, "delete"))

    def _values(self):
        form = request.form
        return {key: form.get(key, "") for key in ("name", "tag", "action", "kind", "days", "method", "description")} | {
            "enabled": form.get("enabled") in ("1", "y", "on")}

    def _render_form(self, values, rule_id=None, status=200):
        tags = list(Tag.select().where(Tag.retired_at.is_null()).order_by(Tag.category, Tag.name))
        return self.render("admin/tasks/rule_form.html", text=RULE_TEXT[current_language()], values=values,
                           rule_id=rule_id, tags=tags, kinds=RULE_KINDS, methods=FOLLOW_METHODS,
                           form=TokenForm()), status

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        if not reminders.may_edit_rules(current_grant(), "create"):
            abort(403)
        if request.method == "GET":
            return self._render_form({"name": "", "tag": "", "action": "", "kind": "within", "days": "30",
                                      "method": "", "description": "", "enabled": True})
        return self._save(None)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        if not reminders.may_edit_rules(current_grant(), "edit"):
            abort(403)
        rule_id = _int(request.args.get("id"))
        rule = ReminderRule.get_or_none(ReminderRule.id == rule_id) if rule_id else None
        if rule is None:
            abort(404)
        if request.method == "GET":
            return self._render_form({"name": rule.name, "tag": rule.tag.name, "action": rule.action,
                                      "kind": rule.kind, "days": str(rule.days), "method": rule.method or "",
                                      "description": rule.description or "", "enabled": rule.enabled}, rule.id)
        return self._save(rule.id)

    def _save(self, rule_id):
        words = RULE_TEXT[current_language()]
        values = self._values()
        if not self._checked("create" if rule_id is None else "edit"):
            return self._render_form(values, rule_id, status=400)
        try:
            rule, result = reminders.save(values, current_user, rule_id=rule_id, ip=request.remote_addr)
        except reminders.Refused as refused:
            flash(str(refused), "error")
            return self._render_form(values, rule_id, status=400)
        flash(words["saved"].format(name=rule.name), "success")
        if result is not None and result.changed:
            flash(words["applied"].format(opened=result.opened, closed=result.closed), "info")
        return self._back()

    @expose("/toggle/", methods=("POST",))
    def toggle_view(self):
        words = RULE_TEXT[current_language()]
        if not self._checked("edit"):
            return self._back()
        enable = request.form.get("enabled") == "1"
        try:
            rule, result = reminders.set_enabled(_int(request.form.get("rule_id")), enable, current_user,
                                                 ip=request.remote_addr)
        except reminders.Refused as refused:
            flash(str(refused), "error")
            return self._back()
        flash(words["enabled_done" if enable else "disabled_done"].format(name=rule.name), "success")
        if result is not None and result.changed:
            flash(words["applied"].format(opened=result.opened, closed=result.closed), "info")
        return self._back()

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        if not self._checked("delete"):
            return self._back()
        try:
            snapshot = reminders.delete(_int(request.form.get("rule_id")), current_user, ip=request.remote_addr)
        except reminders.Refused as refused:
            flash(str(refused), "error")
            return self._back()
        flash(RULE_TEXT[current_language()]["deleted"].format(name=snapshot["name"]), "success")
        return self._back()
