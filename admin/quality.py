"""数据质量: counts per finding (a bar each), drill-down to the records with links to their edit
pages, and the batch actions: set a field on the selected rows or on every row of a finding, and
delete, each behind a confirmation that says how many rows will change.

The work is the quality package's (it asks the policy itself); this view gates the screen on the
`quality` policy key (view: the screen; edit: batch fix; delete: batch delete) and shows only what
the package returns for the caller.
"""
import datetime

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

import jobs
import quality
from access.scope import owner_ids
from i18n import current_language
from models import Choice, JobRun

from .labels import labels_for
from .secured import PolicyView, TokenForm, audit, current_grant

POLICY_KEY = "quality"
SCAN_JOB = "quality-scan"
PER_PAGE = 50
CHOICE_COLUMNS = ("industry", "region", "source")
DATE_COLUMNS = ("first_contact", "next_date")
MOMENT_COLUMNS = ("at", "ordered_at")

TEXT = {
    "zh": {"title": "数据质量", "intro": "按检查项统计您数据范围内的问题记录；点击检查项查看记录，可批量修改或删除。",
           "total": "共 {total} 处问题",
           "finding": "检查项", "count": "记录数", "none": "无", "records": "查看记录",
           "last": "上次定期扫描：{at}（{today} 的数据），共 {total} 条问题记录。", "never": "还没有定期扫描的记录。",
           "pending": "待接入", "pending_hint": "重复客户扫描完成后自动启用。", "back": "返回数据质量",
           "select_all": "全选本页", "selected": "所选记录", "all_rows": "本检查项的全部 {total} 条记录",
           "set": "批量修改", "field": "字段", "value": "新值", "empty": "（清空）", "apply_fix": "修改…",
           "delete": "删除…", "edit": "编辑", "details": "查看", "page": "第 {page} / {pages} 页",
           "prev": "上一页", "next": "下一页", "no_rows": "没有匹配的记录。", "expired": "表单已过期，请刷新页面后重试。",
           "pick": "请先勾选记录，或选择“本检查项的全部记录”。",
           "confirm_title": "确认批量操作", "confirm_fix": "将把 {count} 条记录的“{field}”改为：{value}",
           "confirm_delete": "将删除 {count} 条记录，以及它们的跟进记录、订单、反馈、标签和状态历史（若有）。此操作不可撤销。",
           "nothing": "没有需要修改的记录（所选记录已是这个值，或已不属于此检查项）。",
           "confirm": "确认", "cancel": "取消", "fixed": "已修改 {count} 条记录。", "deleted": "已删除 {count} 条记录。",
           "hint_date": "例如 2024-01-15", "hint_moment": "例如 2024-01-15 14:30", "group": "类别",
           "recorded": "以下为上次扫描的结果：{at}（{today} 的数据，用时 {duration} 秒）。您的数据范围有 {size} 位客户，"
                       "每次打开页面都重新扫描太慢；需要最新结果时请点“重新扫描”。",
           "no_run": "您的数据范围有 {size} 位客户，打开页面时不再当场扫描，但还没有扫描记录：请点“重新扫描”。",
           "rescan": "重新扫描", "rescan_queued": "已加入后台任务队列（运行 #{id}），扫描完成后刷新本页即可看到新结果。",
           "rescan_busy": "扫描正在进行中（运行 #{id}，{status}），完成后刷新本页即可看到新结果。",
           "rescan_failed": "无法加入队列：{error}", "queued": "排队中", "running": "运行中"},
    "en": {"title": "Data quality", "intro": "Problem records in your scope, per check; open a check to see its "
           "records and fix or delete them in batch.",
           "total": "{total} problems found",
           "finding": "Check", "count": "Records", "none": "No problem records", "records": "Records",
           "last": "Last scheduled scan: {at} (data of {today}), {total} problem records.",
           "never": "No scheduled scan yet.", "pending": "pending",
           "pending_hint": "Enabled once the duplicate scan is installed.", "back": "Back to data quality",
           "select_all": "Select page", "selected": "Selected records", "all_rows": "All {total} records of this check",
           "set": "Batch edit", "field": "Field", "value": "New value", "empty": "(empty)", "apply_fix": "Set…",
           "delete": "Delete…", "edit": "Edit", "details": "View", "page": "Page {page} of {pages}",
           "prev": "Previous", "next": "Next", "no_rows": "No matching records.",
           "expired": "The form has expired; reload the page and try again.",
           "pick": "Tick records first, or choose all records of this check.",
           "confirm_title": "Confirm batch action", "confirm_fix": "{count} records will have “{field}” set to: {value}",
           "confirm_delete": "{count} records will be deleted, with their follow-ups, orders, feedback, tags and status "
                             "history. This cannot be undone.",
           "nothing": "No record would change.", "confirm": "Confirm", "cancel": "Cancel",
           "fixed": "{count} records changed.", "deleted": "{count} records deleted.",
           "hint_date": "e.g. 2024-01-15", "hint_moment": "e.g. 2024-01-15 14:30", "group": "Group",
           "recorded": "These are the results of the last scan: {at} (data of {today}, took {duration} s). Your scope "
                       "holds {size} customers, too many to scan on every page load; choose Rescan for fresh results.",
           "no_run": "Your scope holds {size} customers, too many to scan on every page load, and there is no scan "
                     "yet: choose Rescan.",
           "rescan": "Rescan", "rescan_queued": "Queued as a background job (run #{id}); reload this page once it has "
                                                "finished.",
           "rescan_busy": "A scan is already under way (run #{id}, {status}); reload this page once it has finished.",
           "rescan_failed": "Could not queue: {error}", "queued": "queued", "running": "running"},
}


class QualityView(PolicyView):
    policy_key = POLICY_KEY

    # --- helpers --------------------------------------------------------------------
    @staticmethod
    def _text():
        return TEXT[current_language()]

    def _finding(self, key):
        try:
            item = quality.get(key)
        except KeyError:
            abort(404)
        if item not in quality.findings_for(current_user):
            abort(404)
        return item

    def _fixable(self, item):
        """Columns of the finding this user may set: editable for the role, and fix allowed at all."""
        grant = current_grant()
        if not (grant.can(POLICY_KEY, "edit") and grant.can(item.policy_key, "edit")):
            return []
        return [c for c in item.fixable if grant.writable(item.policy_key, c)]

    def _can_delete(self, item):
        grant = current_grant()
        return item.deletable and grant.can(POLICY_KEY, "delete") and grant.can(item.policy_key, "delete")

    def _request(self):
        form = request.form
        return {"key": form.get("key", ""), "action": form.get("action", ""), "column": form.get("column", ""),
                "value": form.get("value", ""), "everything": form.get("everything") == "1",
                "ids": [i for i in form.getlist("ids") if i.strip().isdigit()]}

    def _back(self, key):
        return redirect(self.get_url(".records_view", key=key))

    # --- pages ----------------------------------------------------------------------
    @staticmethod
    def _scan_under_way():
        """The quality-scan job run queued or running, if any."""
        return (JobRun.select().where((JobRun.job == SCAN_JOB) & JobRun.status.in_(("queued", "running")))
                .order_by(JobRun.id.desc()).first())

    @expose("/")
    def index(self):
        text = self._text()
        grant = current_grant()
        everything = owner_ids(current_user, grant) is None  # whole-database counts: only for an "all" scope
        size = quality.scope_size(current_user, grant)
        reached = {item.key: item for item in quality.findings_for(current_user)}
        if size <= quality.ON_DEMAND_CUSTOMERS:  # small enough to scan while the page loads
            counts, recorded = quality.scan(current_user), False
            last = quality.last_run() if everything else None
        else:  # the last recorded scan of this scope (the monthly job's, or 重新扫描's)
            last = quality.last_run(None if everything else current_user.username)
            counts = {key: count for key, count in (last.count_map() if last else {}).items() if key in reached}
            recorded = True
        groups = dict(quality.GROUPS)
        highest = max(counts.values(), default=0) or 1
        sections = {}  # group label -> rows, in registry order
        for key, count in counts.items():
            item = reached[key]
            sections.setdefault(groups.get(item.group, ""), []).append(
                {"item": item, "count": count, "width": round(100 * count / highest, 1)})
        for item in quality.pending():
            sections.setdefault(groups.get(item.group, ""), []).append({"item": item, "count": None, "width": 0})
        return self.render("admin/quality/index.html", text=text, sections=sections, last=last,
                           total=sum(counts.values()), recorded=recorded, size=size,
                           under_way=self._scan_under_way() if recorded else None,
                           form=TokenForm() if recorded else None)

    @expose("/rescan/", methods=("POST",))
    def rescan_view(self):
        """重新扫描: queue the quality-scan job (the whole database and the large row scopes) for a worker."""
        text = self._text()
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
            return redirect(self.get_url(".index"))
        busy = self._scan_under_way()
        if busy is not None:
            flash(text["rescan_busy"].format(id=busy.id, status=text.get(busy.status, busy.status)), "warning")
            return redirect(self.get_url(".index"))
        jobs.discover()
        jobs.configure(current_app.config)  # the queue the workers read: QUEUE_URL or instance/queue.db
        try:
            run = jobs.run_now(SCAN_JOB, username=current_user.username)
        except Exception as error:  # noqa: BLE001 - the queue is unreachable; the run is marked failed
            flash(text["rescan_failed"].format(error=error), "error")
            return redirect(self.get_url(".index"))
        audit("run", "job", SCAN_JOB, {"job": SCAN_JOB, "run": run.id})
        flash(text["rescan_queued"].format(id=run.id), "success")
        return redirect(self.get_url(".index"))

    @expose("/records/")
    def records_view(self):
        text = self._text()
        item = self._finding(request.args.get("key", ""))
        page = request.args.get("page", 1, type=int)
        result = quality.records(item.key, current_user, page=page, per_page=PER_PAGE)
        grant = current_grant()
        endpoint = ".edit_view" if grant.can(item.policy_key, "edit") else ".details_view"
        back = request.full_path
        links = {row["id"]: url_for(item.policy_key + endpoint, id=row["id"], url=back) for row in result["rows"]}
        fixable = self._fixable(item)
        return self.render("admin/quality/records.html", text=text, item=item, result=result, links=links,
                           labels=labels_for(item.policy_key, current_language()), fixable=fixable,
                           inputs={c: self._input(c) for c in fixable}, can_delete=self._can_delete(item),
                           form=TokenForm(), edit_label=text["edit"] if endpoint == ".edit_view" else text["details"])

    def _input(self, column):
        """How the value of `column` is typed: a list entry, a date, a date and time, or text."""
        if column in CHOICE_COLUMNS:
            return {"kind": "select", "options": Choice.names(column)}
        if column in DATE_COLUMNS:
            return {"kind": "date"}
        if column in MOMENT_COLUMNS:
            return {"kind": "text", "placeholder": self._text()["hint_moment"]}
        return {"kind": "text", "placeholder": ""}

    def _run(self, request_data, dry_run):
        common = {"user": current_user, "ids": request_data["ids"], "everything": request_data["everything"],
                  "dry_run": dry_run, "ip": request.remote_addr}
        if request_data["action"] == "delete":
            return quality.delete(request_data["key"], **common)
        return quality.fix(request_data["key"], request_data["column"], request_data["value"], **common)

    @expose("/confirm/", methods=("POST",))
    def confirm_view(self):
        text = self._text()
        data = self._request()
        item = self._finding(data["key"])
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
            return self._back(item.key)
        if data["action"] not in ("fix", "delete"):
            abort(400)
        if not data["everything"] and not data["ids"]:
            flash(text["pick"], "error")
            return self._back(item.key)
        try:
            outcome = self._run(data, dry_run=True)
        except quality.Refused as refused:
            flash(str(refused), "error")
            return self._back(item.key)
        if not outcome.rows:
            flash(text["nothing"], "warning")
            return self._back(item.key)
        labels = labels_for(item.policy_key, current_language())
        shown = outcome.value
        if isinstance(shown, (datetime.date, datetime.datetime)):
            shown = str(shown)
        return self.render("admin/quality/confirm.html", text=text, item=item, data=data, outcome=outcome,
                           field=labels.get(data["column"], data["column"]),
                           value=text["empty"] if shown in (None, "") else shown, form=TokenForm())

    @expose("/apply/", methods=("POST",))
    def apply_view(self):
        text = self._text()
        data = self._request()
        item = self._finding(data["key"])
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
            return self._back(item.key)
        if data["action"] not in ("fix", "delete"):
            abort(400)
        try:
            outcome = self._run(data, dry_run=False)
        except quality.Refused as refused:
            flash(str(refused), "error")
            return self._back(item.key)
        flash(text["deleted" if data["action"] == "delete" else "fixed"].format(count=outcome.rows), "success")
        return self._back(item.key)
