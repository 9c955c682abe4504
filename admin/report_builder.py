"""分析报表 → 自定义报表 (/admin/reportbuilder/): pick row dimensions, measures, a period and filters, see the table
and a chart; save, open and delete one's reports, run the quick reports, export CSV, subscribe.

Everything the grant decides is reportbuilder's (policy key `customreport`): which dimensions and measures are
offered (measures on hidden columns are not), the row scope (access.owner_ids), whether saving, deleting and
exporting are allowed.  Running is a GET (it changes nothing); saving, deleting and the CSV export are POSTs
with the CSRF token, and the export is audited with its row count like every other export.
"""
import csv
import datetime
import io

from flask import Response, current_app, flash, redirect, request, send_file, url_for
from flask_admin import expose
from flask_login import current_user

import reportbuilder
from access.scope import owner_ids
from intake.files import spreadsheet_safe
import exports
from reportbuilder import charts, detail, policy, saved
from reportbuilder.handout import handout, printed
from reportbuilder.spec import CHARTS, PERIODS, SpecError

from .secured import PolicyView, TokenForm, audit, current_grant

FILES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}
CUSTOM = "custom"  # the registry's report for saved reports (reportbuilder.delivery)


def today():
    """The day periods count back from; REPORT_BUILDER_TODAY (a date) fixes it for tests."""
    return current_app.config.get("REPORT_BUILDER_TODAY") or datetime.date.today()


def now():
    """The moment the shared copy's age is judged at; REPORT_BUILDER_NOW (a datetime) fixes it for tests."""
    return current_app.config.get("REPORT_BUILDER_NOW") or datetime.datetime.now()


def spec_from(values):
    """The spec dict of the form's inputs (query string or posted form)."""
    rows = [key for key in (values.get("row1"), values.get("row2")) if key]
    preset = values.get("period") or "last_12_months"
    period = ({"start": values.get("start") or "", "end": values.get("end") or ""} if preset == "custom"
              else {"preset": preset})
    filters = {}
    for key in reportbuilder.DIMENSIONS:
        chosen = [v for v in values.getlist("f_" + key) if v]
        if chosen:
            filters[key] = chosen
    data = {"rows": rows, "measures": [m for m in values.getlist("measures") if m], "period": period,
            "filters": filters}
    if values.get("chart"):
        data["chart"] = values.get("chart")
    if values.get("limit"):
        data["limit"] = values.get("limit")
    return data


def form_of(data):
    """The form's inputs for a spec dict (to show a saved report in the builder)."""
    rows = list(data.get("rows") or []) + ["", ""]
    period = data.get("period") or {}
    return {"row1": rows[0], "row2": rows[1], "measures": list(data.get("measures") or []),
            "period": period.get("preset") or ("custom" if period.get("start") else "last_12_months"),
            "start": period.get("start") or "", "end": period.get("end") or "",
            "filters": {k: list(v) for k, v in (data.get("filters") or {}).items()},
            "chart": data.get("chart") or "", "limit": data.get("limit") or ""}


class ReportBuilderView(PolicyView):
    policy_key = policy.POLICY_KEY

    def grant_allows(self, grant):
        return policy.may_use(grant)

    def _scope(self):
        grant = current_grant()
        return grant, owner_ids(current_user, grant)

    def _run(self, data, live=False):
        """The screen reads a large database from the builder's shared copy when a fresh one exists
        (analytics.copies); exports (live=True) read live data: a file handed on is as of its making."""
        grant, owners = self._scope()
        spec = reportbuilder.parse(data, grant, today())
        return reportbuilder.run(spec, owners, shared_copy=not live, now=now(), username=current_user.username)

    @expose("/")
    def index(self):
        grant = current_grant()
        opened = None
        if request.args.get("report"):
            opened = saved.get_visible(request.args.get("report"), current_user)
            if opened is None:
                flash("报表不存在或您无权打开", "error")
                return redirect(url_for(".index"))
            data = opened.spec_dict
        else:
            data = spec_from(request.args)
        asked = bool(opened) or bool(request.args.get("run"))
        result, error, chart = None, None, None
        if asked:
            try:
                result = self._run(data)
                chart = charts.series(result)
            except SpecError as refused:
                error = str(refused)
                flash(error, "error")
        status = 400 if error else 200
        filterable = [d for d in policy.dimensions(grant) if d.filterable]
        return self.render(
            "admin/report_builder/index.html", form=form_of(data), spec=data, result=result, chart=chart,
            opened=opened, dimensions=policy.dimensions(grant), measures=policy.measures(grant),
            filters=[(d, d.choices()) for d in filterable], periods=PERIODS, charts=CHARTS,
            reports=saved.visible(current_user), token=TokenForm(), may_save=policy.may(grant, "create"),
            may_delete=policy.may(grant, "delete"), may_export=policy.may(grant, "export"),
            may_subscribe=grant.can("subscription", "create"), custom=CUSTOM, query=request.query_string.decode(),
        ), status

    def _posted(self):
        if not TokenForm(request.form).validate():
            flash("页面已过期，请刷新页面后重试", "error")
            return False
        return True

    @expose("/save", methods=("POST",))
    def save_view(self):
        if not self._posted():
            return redirect(url_for(".index"))
        grant = current_grant()
        data = spec_from(request.form)
        try:
            report = saved.save(current_user, grant, request.form.get("name"), data, today(),
                                shared=request.form.get("shared") == "1", ip=request.remote_addr)
        except SpecError as refused:
            flash(f"保存失败：{refused}", "error")
            return redirect(url_for(".index", run=1, **_as_args(request.form)))
        flash(f"已保存报表“{report.name}”", "success")
        return redirect(url_for(".index", report=report.id))

    @expose("/delete", methods=("POST",))
    def delete_view(self):
        if not self._posted():
            return redirect(url_for(".index"))
        report = saved.get_visible(request.form.get("report"), current_user)
        if report is None:
            flash("报表不存在或您无权删除", "error")
            return redirect(url_for(".index"))
        try:
            saved.delete(current_user, current_grant(), report, ip=request.remote_addr)
        except SpecError as refused:
            flash(str(refused), "error")
            return redirect(url_for(".index", report=report.id))
        flash(f"已删除报表“{report.name}”", "success")
        return redirect(url_for(".index"))

    @expose("/refresh", methods=("POST",))
    def refresh_view(self):
        """刷新数据: ask the queue for a new shared copy (one queued at a time; not a data change, not audited)."""
        report = request.form.get("report")
        back = (url_for(".index", report=report) if report and report.isdigit()
                else url_for(".index", run=1, **_as_args(request.form)))
        if not self._posted():
            return redirect(back)
        from reportbuilder.tasks import queue_build, waiting

        if queue_build(username=current_user.username) is not None:
            flash("已请求刷新数据：后台任务完成后，报表将使用新数据", "success")
        elif waiting():
            flash("数据刷新已在排队，完成后报表将使用新数据", "info")
        else:
            flash("暂时无法刷新数据：后台任务队列不可用，或数据量较小（报表已直接读取实时数据）", "error")
        return redirect(back)

    @expose("/export.csv", methods=("POST",))
    def export_view(self):
        """The result as CSV (UTF-8 with BOM, figures as plain numbers a spreadsheet can sum, no cell that could
        run as a formula), audited with its row count."""
        if not self._posted():
            return redirect(url_for(".index"))
        grant = current_grant()
        if not policy.may(grant, "export"):
            flash("您的角色不能导出自定义报表", "error")
            return redirect(url_for(".index", run=1, **_as_args(request.form)))
        data = spec_from(request.form)
        try:
            result = self._run(data, live=True)
        except SpecError as refused:
            flash(str(refused), "error")
            return redirect(url_for(".index", run=1, **_as_args(request.form)))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([spreadsheet_safe("" if value is None else str(value)) for value in row])
        audit("export", policy.POLICY_KEY, changes={"spec": result.spec.as_dict(), "format": "csv"},
              rows=len(result.rows))
        name = f"customreport-{today().isoformat()}.csv"
        return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}"})

    @expose("/export.xlsx", methods=("POST",))
    def xlsx_view(self):
        return self._file("xlsx")

    @expose("/export.pdf", methods=("POST",))
    def pdf_view(self):
        return self._file("pdf")

    def _file(self, kind):
        """The result as an Excel workbook (summary table, native chart, the underlying rows as 明细) or an A4 PDF
        (summary and chart; exports), audited with the rows handed on, like the CSV."""
        if not self._posted():
            return redirect(url_for(".index"))
        grant = current_grant()
        back = url_for(".index", run=1, **_as_args(request.form))
        if not policy.may(grant, "export"):
            flash("您的角色不能导出自定义报表", "error")
            return redirect(back)
        try:
            result = self._run(spec_from(request.form), live=True)
        except SpecError as refused:
            flash(str(refused), "error")
            return redirect(back)
        title = (request.form.get("title") or "自定义报表")[:80]
        notes = [f"范围：{current_user.display_name or current_user.username}的数据范围"]
        if kind == "xlsx":
            rows = detail.fetch(result.spec, owner_ids(current_user, grant), detail.column_access(grant),
                                detail.shown_groups(result))
            document = handout(result, title, notes, rows)
        else:
            document = printed(result, title, notes)
        try:
            data = exports.xlsx_bytes(document) if kind == "xlsx" else exports.pdf_bytes(document)
        except exports.EngineUnavailable as error:
            flash(str(error), "error")
            return redirect(back)
        audit("export", policy.POLICY_KEY, changes={"spec": result.spec.as_dict(), "format": kind},
              rows=document.row_count)
        return send_file(io.BytesIO(data), mimetype=FILES[kind], as_attachment=True,
                         download_name=f"{title}-{today().isoformat()}.{kind}")



def _as_args(form):
    """The posted builder inputs as query arguments, to show the same report again after a refusal."""
    keep = {}
    for key in form:
        if key in ("csrf_token", "name", "shared", "report", "title"):
            continue
        values = [v for v in form.getlist(key) if v]
        if values:
            keep[key] = values if len(values) > 1 else values[0]
    return keep
