"""数据导入: the import wizard and the history of imports.

Four steps, each a page: 1 上传 (kind and file; templates to download), 2 对应列 (the decoded rows,
each header's field, how existing records are matched, what to do with bad rows), 3 检查 (a worker
validates every cell: the report, unknown list values mapped onto list entries), 4 导入 (a worker
imports in one transaction; a progress bar that moves while it runs, intake.progress; the result, its
rejected rows, 撤销导入).

An ImportRun is one pass through the wizard (intake.runs); it is scoped like report runs (own /
team / all by the user who started it).  The policy key "importrun" gates the screen (view) and
starting imports (create); what an import may write is decided by the engine from the importing
user's grant on customers, orders, follow-ups and users, as for the command line.
"""
import os

from flask import abort, flash, jsonify, redirect, request, send_file
from flask_admin import expose
from flask_login import current_user

import intake
from i18n import current_language
from intake import progress, retention, runs
from models import ImportRun

from .secured import PolicyModelView, TokenForm, audit, current_grant

KIND_ORDER = ("customers", "orders", "followups", "users")


class ImportRunView(PolicyModelView):
    list_columns = ("created_at", "username", "kind", "filename", "status", "summary")
    detail_columns = list_columns
    form_fields = ()
    sortable_columns = ("created_at", "username", "kind", "status")
    filter_columns = (("kind", "kind"), ("status", "status"))
    search_kinds = {"filename": "fragment", "username": "exact"}
    column_default_sort = ("id", True)
    list_template = "admin/imports/list.html"
    details_template = "admin/imports/details.html"
    column_formatters = {
        "kind": lambda view, context, model, name: view.kind_label(model.kind),
        "summary": lambda view, context, model, name: (model.report or {}).get("summary", model.message or ""),
    }

    def _configure(self, grant):
        super()._configure(grant)
        self.can_create = grant is None or grant.can(self.policy_key, "create")  # the wizard, not a model form
        self.can_edit = False
        self.can_delete = False  # a batch is taken back with 撤销导入, which the engine checks

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def kind_label(name):
        try:
            return intake.kinds.get(name).label
        except KeyError:
            return name

    def kinds(self):
        """The kinds this user may import: those whose records the role may create or edit."""
        grant = current_grant()
        found = []
        for name in KIND_ORDER:
            spec = intake.KINDS.get(name)
            if spec and (grant.can(spec.policy_key, "create") or grant.can(spec.policy_key, "edit")):
                found.append(spec)
        return found

    def _require(self, action):
        if not current_grant().can(self.policy_key, action):
            abort(403)

    def _form_ok(self):
        if not TokenForm(request.form).validate():
            flash("表单已过期，请刷新页面后重试。", "error")
            return False
        return True

    def _run(self, run_id=None):
        """The ImportRun named by the request, within the user's scope (404 otherwise)."""
        run = self.get_one(run_id if run_id is not None else request.values.get("id"))
        if run is None:
            abort(404)
        return run

    def _details(self, run):
        return redirect(self.get_url(".details_view", id=run.id))

    def _file_gone(self, run):
        """The upload was cleared (intake.retention): say so and go back to the run, instead of failing."""
        if not runs.file_gone(run):
            return None
        flash(runs.FILE_GONE, "error")
        return self._details(run)

    # --- step 1: upload -----------------------------------------------------------------------
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        self._require("create")
        kinds = self.kinds()
        if not kinds:
            abort(403)
        chosen = request.values.get("kind") or kinds[0].name
        if request.method == "POST" and self._form_ok():
            upload = request.files.get("file")
            if chosen not in {spec.name for spec in kinds}:
                flash("请选择可以导入的数据类型。", "error")
            elif upload is None or not upload.filename:
                flash("请选择要导入的文件（CSV 或 Excel）。", "error")
            else:
                try:
                    run = runs.upload(upload, upload.filename, chosen, current_user,
                                      sheet=(request.form.get("sheet") or "").strip() or None)
                except intake.ImportRefused as refused:
                    flash(str(refused), "error")
                else:
                    return redirect(self.get_url(".map_view", id=run.id))
        return self.render("admin/imports/upload.html", kinds=kinds, chosen=chosen, form=TokenForm())

    @expose("/template/")
    def template_view(self):
        name = request.args.get("kind", "")
        if name not in {spec.name for spec in self.kinds()}:
            abort(404)
        from io import BytesIO

        spec = intake.kinds.get(name)
        return send_file(BytesIO(intake.template(name)), as_attachment=True, download_name=f"{spec.label}导入模板.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    # --- step 2: columns and options ----------------------------------------------------------
    @expose("/map/", methods=("GET", "POST"))
    def map_view(self):
        self._require("create")
        run = self._run()
        if run.busy or run.status == "done":
            return self._details(run)
        gone = self._file_gone(run)
        if gone:
            return gone
        spec = intake.kinds.get(run.kind)
        if request.method == "POST" and self._form_ok():
            fields = {f.name for f in spec.fields}
            analysis = runs.analyse(run)
            mapping = {}
            for index, header in enumerate(analysis.headers):
                if not header:
                    continue
                value = request.form.get(f"map-{index}", "")
                mapping[header] = value if value in fields else ""
            key = request.form.get("key") or None
            runs.choose(run, mapping=mapping, key=key if key in spec.keys else None,
                        skip_invalid=request.form.get("mode") == "skip", value_maps={})
            checked = runs.analyse(run)  # a required column left unmapped is said here, before any job
            if checked.mapping_error:
                flash(checked.mapping_error, "error")
            else:
                audit("import-check", self.policy_key, run.id, {"file": run.filename, "kind": run.kind})
                runs.start(run, dry_run=True)
                return self._details(run)
        try:
            analysis = runs.analyse(run)
        except intake.ImportRefused as refused:
            flash(str(refused), "error")
            return self._details(run)
        return self.render("admin/imports/map.html", run=run, spec=spec, analysis=analysis, form=TokenForm(),
                           options=run.options or {}, kind_label=spec.label)

    # --- step 3: the check's report; unknown list values mapped --------------------------------
    @expose("/values/", methods=("POST",))
    def values_view(self):
        """Map unknown managed-list values onto list entries, then check again."""
        self._require("create")
        run = self._run()
        if run.busy or not self._form_ok():
            return self._details(run)
        gone = self._file_gone(run)
        if gone:
            return gone
        unknown = (run.report or {}).get("unknown_values", {})
        value_maps = dict((run.options or {}).get("value_maps") or {})
        for field_name, values in unknown.items():
            allowed = set(runs.list_entries(run.kind, field_name))
            for index, value in enumerate(values):
                target = request.form.get(f"value-{field_name}-{index}", "")
                if target in allowed:
                    value_maps.setdefault(field_name, {})[value] = target
        runs.choose(run, value_maps=value_maps)
        runs.start(run, dry_run=True)
        return self._details(run)

    # --- step 4: import, undo -----------------------------------------------------------------
    @expose("/start/", methods=("POST",))
    def start_view(self):
        self._require("create")
        run = self._run()
        if run.busy or run.status != "checked" or not self._form_ok():
            return self._details(run)
        gone = self._file_gone(run)
        if gone:
            return gone
        runs.choose(run, skip_invalid=request.form.get("mode") == "skip")
        runs.start(run, dry_run=False)
        return self._details(run)

    @expose("/undo/", methods=("POST",))
    def undo_view(self):
        self._require("create")
        run = self._run()
        if run.status != "done" or not run.batch_id or not self._form_ok():
            return self._details(run)
        try:
            intake.undo(run.batch_id, user=current_user)
        except intake.UndoRefused as refused:
            flash(str(refused), "error")
        else:
            ImportRun.update(status="checked", batch_id=None).where(ImportRun.id == run.id).execute()
            flash("已撤销这次导入：新建的记录已删除，更新的记录已恢复原值。", "success")
        return self._details(run)

    @expose("/progress/")
    def progress_view(self):
        """Polled by the run's page: the row merged with the progress board (intake.progress), which the
        worker writes outside the import's transaction, so the bar moves while the import runs."""
        return jsonify(self.live(self._run()))

    def live(self, run):
        return progress.snapshot(run)

    @expose("/errors/")
    def errors_view(self):
        """The rejected rows as XLSX, with a 错误原因 column; fix them and import that file again."""
        run = self._run()
        path = (run.report or {}).get("error_file")
        if not path:
            abort(404)
        if not os.path.isfile(path):
            flash(f"错误行文件已按保留期限（{retention.keep_days()} 天）清理。", "error")
            return self._details(run)
        audit("export", self.policy_key, run.id, {"file": os.path.basename(path), "kind": run.kind},
              rows=(run.report or {}).get("counts", {}).get("rejected"))
        name = os.path.splitext(run.filename)[0]
        return send_file(path, as_attachment=True, download_name=f"{name}-错误行.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    def list_entries(self, run, field_name):
        return runs.list_entries(run.kind, field_name)

    def field_label(self, run, field_name):
        try:
            return intake.kinds.get(run.kind).field(field_name).label
        except (KeyError, StopIteration):
            return field_name

    def token(self):
        return TokenForm()

    def zh(self):
        return current_language() == "zh"

