"""The reports screen: 立即运行 (run now), the runs with their outputs, and re-run.

Runs are records like any other: PolicyModelView scopes them (a sales rep sees the runs
they started, a manager the team's, an admin all; see access.scope.USER_PATHS), and the
grant's actions decide the buttons: view (the list and the HTML), create (run, re-run),
export (download the executed notebook), delete (the run and its files).  Running goes
through reporting: parameters are validated before anything is stored, the run's scope
comes from the caller's grant, and reporting.background puts its id on the one jobs queue, where
a worker (`run.py worker`) executes it; the page answers at once and polls the run's progress, and
says so when the run waits for a worker that is not running.
PDF 下载 and Excel 下载 (export) hand the run on as a PDF for A4 and a workbook of its tables
(exports.notebook); the run is already in the scope it was run for, and each download is audited with
the rows it carries.
"""
import io
import os

from flask import abort, current_app, flash, jsonify, redirect, request, send_file
from flask_admin import expose
from flask_admin.model.template import BaseListRowAction
from flask_login import current_user
from markupsafe import Markup

import exports
import reporting
from exports import notebook as notebook_exports
from i18n import current_language
from reporting import background, params as report_params
from reporting.runner import queue_run, rerun

from .row_actions import LINK
from .secured import PolicyModelView, TokenForm, audit, current_grant

# Reports are notebooks' output: charts as data: URIs and inline styles, never scripts.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; sandbox"
POST_BUTTON = Markup(
    '<form class="icon" method="POST" action="{action}">'
    '<input name="id" type="hidden" value="{id}">'
    '<input name="csrf_token" type="hidden" value="{token}">'
    '<button title="{title}"><span class="fa fa-repeat glyphicon glyphicon-repeat"></span></button></form>'
)


def parameter_fields(report):
    """(name, label, value shown) for each parameter a person may set on `report`."""
    language = current_language()
    declared = reporting.params.declared(report.notebook)
    fields = []
    for name, default in {**declared, **report.defaults}.items():
        if name in report_params.SCOPE_PARAMS:
            continue
        fields.append((name, report_params.parameter_label(name, language, hint=True), _shown(default)))
    return fields


def _shown(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


# kind -> (the run as (bytes, Handout), its mimetype): the downloads a run offers people to hand on
HANDOUTS = {
    "pdf": (notebook_exports.run_pdf, "application/pdf"),
    "xlsx": (notebook_exports.run_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def output_present(run, attribute):
    """Whether the file `run.<attribute>` names is still on disk (reports_out may be cleaned by hand or by a
    retention job).  One stat per run and file, kept on the row for the rest of the request: the runs list asks
    for the report's HTML three times a row (view, PDF, Excel), twenty rows a page."""
    seen = run.__dict__.setdefault("_outputs_present", {})
    if attribute not in seen:
        path = getattr(run, attribute)
        seen[attribute] = bool(path) and os.path.isfile(path)
    return seen[attribute]


class ReportAction(BaseListRowAction):
    """A row icon on the runs list: link to an output, or the re-run button."""

    def __init__(self, kind, title, token=None):
        super().__init__(title)
        self.kind, self.token = kind, token

    def render(self, context, row_id, row):
        view = context.resolve("admin_view")
        if self.kind == "rerun":
            return POST_BUTTON.format(action=view.get_url(".rerun_view"), id=row_id, token=self.token,
                                      title=self.title)
        if self.kind == "html" and not output_present(row, "html_path"):
            return ""
        if self.kind == "notebook" and not (row.finished and output_present(row, "notebook_path")):
            return ""
        if self.kind in HANDOUTS and not (row.status == "success" and output_present(row, "html_path")):
            return ""
        icon = {"html": "fa fa-file-text-o", "pdf": "fa fa-file-pdf-o", "xlsx": "fa fa-file-excel-o"}.get(
            self.kind, "fa fa-download")
        return LINK.format(url=view.get_url(f".{self.kind}_view", id=row_id), title=self.title, icon=icon)


class ReportRunView(PolicyModelView):
    list_columns = ("run_id", "report", "username", "status", "started_at", "duration")
    detail_columns = ("run_id", "report", "parameters", "username", "status", "error_name", "error",
                      "code_version", "watermark", "started_at", "finished_at", "duration")
    sortable_columns = ("run_id", "report", "username", "status", "started_at", "duration")
    filter_columns = (("report", "report"), ("status", "status"))
    search_kinds = {"run_id": "fragment", "report": "exact", "username": "exact"}
    column_default_sort = ("id", True)
    list_template = "admin/report_runs/list.html"
    details_template = "admin/report_runs/details.html"

    def reports(self):
        """The registry's reports, for the 立即运行 panel."""
        return reporting.available()

    def run_form(self):
        return TokenForm()

    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        zh = current_language() == "zh"
        actions.append(ReportAction("html", "查看报表" if zh else "View report"))
        if self.can_export:
            actions.append(ReportAction("notebook", "下载笔记本" if zh else "Download notebook"))
            actions.append(ReportAction("pdf", "下载 PDF" if zh else "Download PDF"))
            actions.append(ReportAction("xlsx", "下载 Excel" if zh else "Download Excel"))
        if current_grant().can(self.policy_key, "create"):
            actions.append(ReportAction("rerun", "以相同参数再次运行" if zh else "Re-run with the same parameters",
                                        token=TokenForm().csrf_token.current_token))
        return actions

    # --- running ------------------------------------------------------------------------
    def _require(self, action):
        if not current_grant().can(self.policy_key, action):
            abort(403)

    def _checked_form(self):
        form = TokenForm(request.form)
        if not form.validate():
            flash("表单已过期，请刷新页面后重试。", "error")
            return None
        return form

    def _start(self, run):
        audit("run", self.policy_key, run.id, {"report": run.report, "parameters": run.params})
        try:
            background.submit(run.id, current_app.config)
        except background.QueueUnavailable as error:  # the run is marked failed with the reason
            flash(f"报表 {run.report} 未能开始运行：{error}", "error")
        else:
            flash(f"报表 {run.report} 已加入后台队列（{run.run_id}）", "success")
        return redirect(self.get_url(".details_view", id=run.id))

    def waiting_for_worker(self, run):
        """For the details page: whether queued `run` waits for a worker that is not running."""
        return background.waiting_for_worker(run, current_app.config)

    @expose("/run/", methods=("GET", "POST"))
    def run_view(self):
        """GET: the parameters of one report; POST: validate them and start the run."""
        self._require("create")
        name = request.values.get("report", "")
        try:
            report = reporting.get(name)
        except reporting.ReportError as error:
            flash(str(error), "error")
            return redirect(self.get_url(".index_view"))
        fields = parameter_fields(report)
        if request.method == "POST" and self._checked_form() is not None:
            supplied = {n: request.form[n] for n, _label, _value in fields if n in request.form}
            try:
                run = queue_run(report.name, supplied, user=current_user, asked=True)
            except reporting.ReportError as error:
                flash(str(error), "error")  # nothing was stored; the form keeps what was typed
            else:
                return self._start(run)
        values = {n: request.form.get(n, shown) for n, _label, shown in fields}
        return self.render("admin/report_runs/run.html", report=report, fields=fields, values=values,
                           form=TokenForm())

    @expose("/rerun/", methods=("POST",))
    def rerun_view(self):
        self._require("create")
        if self._checked_form() is None:
            return redirect(self.get_url(".index_view"))
        previous = self.get_one(request.form.get("id"))
        try:
            run = rerun(previous, current_user)
        except reporting.ReportError as error:  # the notebook changed since: its parameters no longer fit
            flash(str(error), "error")
            return redirect(self.get_url(".details_view", id=previous.id))
        return self._start(run)

    # --- outputs --------------------------------------------------------------------------
    def output_present(self, run, attribute):
        """For the details page: whether the run's file is still there (see output_present)."""
        return output_present(run, attribute)

    def _gone(self, run):
        """The run's output file was removed: say so in Chinese on a page of the admin (404), with the way to
        run it again; nothing is sent, nothing audited."""
        return self.render("admin/report_runs/missing.html", model=run, form=TokenForm()), 404

    @expose("/progress/")
    def progress_view(self):
        run = self.get_one(request.args.get("id"))
        return jsonify(status=run.status, label=dict(run._meta.fields["status"].choices)[run.status],
                       percent=run.percent, cells_done=run.cells_done, cells_total=run.cells_total,
                       finished=run.finished, error=run.error, no_worker=self.waiting_for_worker(run))

    @expose("/html/")
    def html_view(self):
        run = self.get_one(request.args.get("id"))
        if not run.html_path:
            abort(404)
        if not output_present(run, "html_path"):
            return self._gone(run)
        response = send_file(run.html_path, mimetype="text/html")
        response.headers["Content-Security-Policy"] = REPORT_CSP
        return response

    @expose("/notebook/")
    def notebook_view(self):
        self._require("export")
        run = self.get_one(request.args.get("id"))
        if not run.finished or not run.notebook_path:
            abort(404)
        if not output_present(run, "notebook_path"):
            return self._gone(run)
        audit("export", self.policy_key, run.id, {"file": os.path.basename(run.notebook_path)}, rows=1)
        return send_file(run.notebook_path, mimetype="application/x-ipynb+json", as_attachment=True,
                         download_name=f"{run.report}-{run.run_id}.ipynb")

    def _handout(self, kind):
        """The run asked for, as a download of `kind` (pdf / xlsx), audited with its rows."""
        self._require("export")
        run = self.get_one(request.args.get("id"))  # within the viewer's scope of runs, or 404
        if run.status != "success" or not run.html_path:
            abort(404)
        if not output_present(run, "html_path"):
            return self._gone(run)
        try:
            data, handout = HANDOUTS[kind][0](run)
        except exports.EngineUnavailable as error:
            flash(str(error), "error")
            return redirect(self.get_url(".details_view", id=run.id))
        audit("export", self.policy_key, run.id, {"format": kind, "report": run.report}, rows=handout.row_count)
        return send_file(io.BytesIO(data), mimetype=HANDOUTS[kind][1], as_attachment=True,
                         download_name=f"{handout.title or run.report}-{run.run_id}.{kind}")

    @expose("/pdf/")
    def pdf_view(self):
        return self._handout("pdf")

    @expose("/xlsx/")
    def xlsx_view(self):
        return self._handout("xlsx")

    @expose("/log/")
    def log_view(self):
        """What the report kept from its readers (warnings, errors, stray values), for whoever may
        download the notebook it came from."""
        self._require("export")
        run = self.get_one(request.args.get("id"))
        if not run.log_path or not os.path.isfile(run.log_path):
            abort(404)
        audit("export", self.policy_key, run.id, {"file": os.path.basename(run.log_path)}, rows=1)
        response = send_file(run.log_path, mimetype="text/plain; charset=utf-8")
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    def after_model_delete(self, model):
        super().after_model_delete(model)
        for path in (model.notebook_path, model.html_path, model.log_path, model.chart_path):
            if path and os.path.isfile(path):
                os.remove(path)
