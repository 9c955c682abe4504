"""分析报表 → 报表订阅: subscriptions with their schedule, next runs, deliveries, 预览邮件, 立即发送, 暂停/恢复.

Subscriptions are records like any other: PolicyModelView scopes them by owner (access.scope.USER_PATHS;
a sales rep sees their own, a manager the team's, an admin all) and the grant's actions decide the
buttons: view (list, details, 预览邮件), create, edit (the form, 立即发送, 暂停/恢复), delete, export.

Every check of a subscription's content is subscriptions.validation's (the same the CLI and the engine
use: report parameters exactly as a manual run); this screen only turns form inputs into its fields
and shows its Chinese messages next to the inputs.  Saving, pausing and sending are audited.
"""
import datetime
import json
from types import SimpleNamespace

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from peewee import fn
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Optional, ValidationError

import reporting
import subscriptions
from access.scope import owner_ids, scope_query
from delivery import report_mail
from models import Delivery, ReportRun, Subscription, User, db
from models.subscriptions import DELIVERY_STATUSES, SCHEDULE_KINDS
from reporting import params as report_params
from subscriptions import engine, schedule

from . import subscription_preview
from .report_runs import REPORT_CSP
from .secured import PolicyModelView, TokenForm, audit, current_grant

UPCOMING = 5  # next run times on the details page
HISTORY = 50  # deliveries on the details page
STATUS_LABELS = dict(DELIVERY_STATUSES)
# subscriptions.clean's error keys that are not form inputs -> the input the message belongs to
ERROR_INPUTS = {"users": "recipient_users", "emails": "recipient_emails", "recipients": "recipient_users"}
# form input -> subscriptions.clean's field
CLEAN_FIELDS = {"recipient_users": "users", "recipient_emails": "emails"}


def report_title(name):
    """A report's short Chinese title (客户价值), by the rule report mails use."""
    return report_mail.report_title(SimpleNamespace(report=name))


def params_in_words(params):
    """地区：华东、华北；标签：重点 — or 默认参数."""
    if not params:
        return "默认参数"
    return "；".join(f"{report_params.parameter_label(k)}：{report_mail.format_value(v)}" for k, v in params.items())


# --- form fields ---------------------------------------------------------------------------
class ParametersField(TextAreaField):
    """Report parameters, one `名称=值` per line; lists comma separated.  Types and names are checked by
    the report's own validation (reporting.params), not here."""

    def process_data(self, value):
        if isinstance(value, str):
            value = json.loads(value or "{}")
        self.data = value or {}

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data, self.bad = {}, []
        for line in self.raw.splitlines():
            if not line.strip():
                continue
            name, sign, value = line.replace("＝", "=").partition("=")
            if not sign or not name.strip():
                self.bad.append(line.strip())
            else:
                self.data[name.strip()] = value.strip()

    def pre_validate(self, form):
        if getattr(self, "bad", None):
            raise ValidationError(f"参数每行写成 名称=值（如 regions=华东,华北），无法理解：{self.bad[0]}")

    def _value(self):
        if hasattr(self, "raw"):
            return self.raw
        return "\n".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.data.items())


class UsersField(SelectMultipleField):
    """Recipient users: the ids stored as a JSON list; the choices are set per request (the caller's scope)."""

    def process_data(self, value):
        if isinstance(value, str):
            value = json.loads(value or "[]")
        self.data = [str(v) for v in value or []]

    def pre_validate(self, form):
        offered = {str(value) for value, _label in self.choices or []}
        for value in self.data or []:
            if value not in offered:
                raise ValidationError("所选收件用户不存在或不在您的数据范围内")


def prefill(form, args):
    """A link from another screen fills in the new subscription: ?report=custom&name=...&p.report_id=7 (自定义报表's
    订阅此报表).  Only a registered report is taken; the values are checked on save like typed ones."""
    if args.get("report") in reporting.available() and hasattr(form, "report"):
        form.report.data = args["report"]
    if args.get("name") and hasattr(form, "name"):
        form.name.data = args["name"][:120]
    given = {key[2:]: value for key, value in args.items() if key.startswith("p.") and value}
    if given and hasattr(form, "parameters"):
        form.parameters.data = given


WEEKDAY_CHOICES = [("", "—")] + [(str(n), name) for n, name in schedule.WEEKDAYS.items()]


class SubscriptionView(PolicyModelView):
    list_columns = ("name", "report", "schedule", "timezone", "recipients", "enabled", "owner", "next_run",
                    "last_delivery")
    detail_columns = ("name", "report", "parameters", "schedule", "timezone", "recipients", "enabled", "owner",
                      "created_at", "updated_at")
    form_fields = ("name", "report", "parameters", "schedule_kind", "weekday", "day", "time", "cron", "timezone",
                   "recipient_users", "recipient_emails", "enabled")
    sortable_columns = ("name", "report", "timezone", "enabled")
    search_kinds = {"name": "fragment"}
    owner_column = "owner"  # not a form field: the creator owns a new subscription
    column_default_sort = ("id", True)
    details_template = "admin/subscriptions/details.html"
    create_template = "admin/subscriptions/create.html"
    edit_template = "admin/subscriptions/edit.html"
    form_overrides = {"report": SelectField, "parameters": ParametersField, "schedule_kind": SelectField,
                      "weekday": SelectField, "day": StringField, "time": StringField, "cron": StringField,
                      "timezone": StringField, "recipient_users": UsersField, "recipient_emails": TextAreaField,
                      "enabled": BooleanField}
    form_args = {
        # Optional() stops WTForms' own "required" check: subscriptions.clean says what is missing (请填写订阅名称)
        "name": {"validators": [Optional()]},
        "report": {"choices": lambda: [(name, f"{report_title(name)}（{name}）") for name in reporting.available()]},
        "parameters": {"description": "每行一个 名称=值，列表用逗号分隔；留空使用报表默认值。可用参数见表单下方。"},
        "schedule_kind": {"choices": list(SCHEDULE_KINDS)},
        "weekday": {"choices": WEEKDAY_CHOICES, "description": "每周订阅：星期几"},
        "day": {"description": "每月订阅：1–31 日，小月取当月最后一天"},
        "time": {"description": "每周、每月订阅：HH:MM，按所选时区"},
        "cron": {"description": "cron 订阅：分 时 日 月 星期，如 0 8 * * 1-5（工作日 08:00）"},
        "timezone": {"description": "IANA 时区名，默认 Asia/Shanghai"},
        "recipient_users": {"description": "每位用户收到按其本人权限范围生成的报表"},
        "recipient_emails": {"description": "逗号分隔，如 张三 <zhang@example.com>, li@example.com；"
                                            "按订阅所有者的权限范围生成"},
        "enabled": {"label": "启用", "description": "不勾选即暂停：暂停的订阅不会发送"},
    }

    # --- values shown in lists, details and exports -----------------------------------------
    def _recipients(self, model):
        names = getattr(model, "_recipient_names", None)
        if names is None:
            names = self._user_names(model.user_ids)
        people = [names.get(i, f"#{i}") for i in model.user_ids]
        emails = [e.strip() for e in (model.recipient_emails or "").split(",") if e.strip()]
        return "、".join(people + emails)

    @staticmethod
    def _user_names(ids):
        if not ids:
            return {}
        return {u.id: u.display_name or u.username for u in User.select().where(User.id.in_(list(ids)))}

    @staticmethod
    def next_runs(model, count=UPCOMING):
        """The next `count` run times, local to the subscription's time zone (none while paused)."""
        if not model.enabled:
            return []
        now = engine.utcnow()
        try:
            found = schedule.occurrences(model, now, now + datetime.timedelta(days=5 * 366), limit=count)
            zone = schedule.zone(model.timezone)
        except schedule.ScheduleError:
            return []
        return [schedule.to_local(moment, zone) for moment in found]

    def _next_run(self, model):
        if not model.enabled:
            return "—（已暂停）"
        upcoming = self.next_runs(model, 1)
        return upcoming[0].strftime("%Y-%m-%d %H:%M") if upcoming else "不会再运行"

    def _last_delivery(self, model):
        last = getattr(model, "_last_delivery", False)
        if last is False:
            last = model.deliveries.order_by(Delivery.scheduled_for.desc(), Delivery.id.desc()).first()
        if last is None:
            return "从未发送"
        return f"{STATUS_LABELS.get(last.status, last.status)}（{last.period}）"

    column_formatters = {
        "report": lambda v, c, m, n: f"{report_title(m.report)}（{m.report}）",
        "parameters": lambda v, c, m, n: params_in_words(m.params),
        "schedule": lambda v, c, m, n: schedule.describe(m, with_zone=False),
        "recipients": lambda v, c, m, n: v._recipients(m),
        "enabled": lambda v, c, m, n: "已启用" if m.enabled else "已暂停",
        "next_run": lambda v, c, m, n: v._next_run(m),
        "last_delivery": lambda v, c, m, n: v._last_delivery(m),
    }

    def attach_related(self, rows):
        """Recipient names and the last delivery of a page of subscriptions with one query each."""
        super().attach_related(rows)
        names = self._user_names({i for row in rows for i in row.user_ids})
        latest = {}
        ids = [row.id for row in rows]
        if ids:
            # Only each subscription's latest occurrence is read, not its whole history (a weekly
            # subscription gathers a row per scope every week); the highest id breaks a tie.
            newest = (Delivery.select(Delivery.subscription, fn.MAX(Delivery.scheduled_for).alias("moment"))
                      .where(Delivery.subscription.in_(ids)).group_by(Delivery.subscription).alias("newest"))
            for delivery in (Delivery.select().join(newest, on=(
                    (Delivery.subscription == newest.c.subscription_id) & (Delivery.scheduled_for == newest.c.moment)))
                    .order_by(Delivery.id)):
                latest[delivery.subscription_id] = delivery
        for row in rows:
            row._recipient_names = names
            row._last_delivery = latest.get(row.id)

    # --- the form ---------------------------------------------------------------------------
    @staticmethod
    def parameter_help():
        """(report, title, [(parameter, label, default shown)]) for the help beside the form."""
        from .report_runs import parameter_fields

        return [(name, report_title(name), parameter_fields(report)) for name, report in reporting.available().items()]

    def _user_choices(self, selected=()):
        """Active users with an address inside the caller's scope, plus those already chosen (kept on edit)."""
        allowed = owner_ids(current_user, current_grant())
        query = User.select().where((User.active == True) & User.email.is_null(False) & (User.email != ""))  # noqa: E712
        if allowed is not None:
            query = query.where(User.id.in_(allowed) | User.id.in_([int(i) for i in selected] or [0]))
        return [(str(u.id), f"{u.display_name or u.username}（{u.username}）") for u in query.order_by(User.id)]

    def _with_choices(self, form, stored=()):
        if hasattr(form, "recipient_users"):
            form.recipient_users.choices = self._user_choices(stored)
        return form

    def create_form(self, obj=None):
        form = self._with_choices(super().create_form(obj))
        if request.method == "GET":
            prefill(form, request.args)
        return form

    def edit_form(self, obj=None):
        return self._with_choices(super().edit_form(obj), obj.user_ids if obj is not None else ())

    def _fields(self, form):
        """The editable inputs as subscriptions.clean's fields; inputs the role may not edit are absent."""
        return {CLEAN_FIELDS.get(name, name): getattr(form, name).data for name in self.form_columns}

    def _show_errors(self, form, error):
        for key, message in error.errors.items():
            name = error.inputs.get(key) or ERROR_INPUTS.get(key, key)
            target = getattr(form, name, None) if name in self.form_columns else None
            if target is None:
                flash(message, "error")
            else:
                target.errors = list(target.errors) + [message]
        flash("保存失败：请按提示修改后重试。", "error")  # the wording of the form-error flash (i18n)

    def create_model(self, form):
        owner = User.get_by_id(current_user.id)
        try:
            with db.atomic():
                model = subscriptions.create(owner, **self._fields(form))
                self.after_model_change(form, model, True)
        except subscriptions.SubscriptionError as error:
            self._show_errors(form, error)
            return False
        return model

    def update_model(self, form, model):
        before = dict(model.__data__)
        try:
            with db.atomic():
                subscriptions.update(model, **self._fields(form))
                audit("update", self.policy_key, model.id, self._changes(before, model.__data__))
        except subscriptions.SubscriptionError as error:
            self._show_errors(form, error)
            return False
        return True

    def after_model_change(self, form, model, is_created):
        audit("create", self.policy_key, model.get_id(), self._changes({}, model.__data__))

    # --- details: next runs and deliveries -------------------------------------------------------
    def history(self, model):
        """The subscription's deliveries, newest first, each with `html_url` when the viewer may open its report."""
        rows = list(model.deliveries.order_by(Delivery.scheduled_for.desc(), Delivery.id.desc()).limit(HISTORY))
        run_ids = [row.report_run_id for row in rows if row.report_run_id]
        visible = set()
        if run_ids and current_grant().can("reportrun", "view"):
            query = scope_query(ReportRun, ReportRun.select(ReportRun.id), current_user, current_grant())
            visible = {run.id for run in query.where(ReportRun.id.in_(run_ids) & ReportRun.html_path.is_null(False))}
        for row in rows:
            row.status_label = STATUS_LABELS.get(row.status, row.status)
            row.html_url = (url_for("reportrun.html_view", id=row.report_run_id)
                            if row.report_run_id in visible else None)
            row.sent_local = (schedule.to_local(row.sent_at, schedule.zone(model.timezone)) if row.sent_at else None)
        return rows

    def button_form(self):
        return TokenForm()

    # --- actions --------------------------------------------------------------------------------
    def _require(self, action):
        """The policy decides (one grant lookup); a role without the action gets 403 and nothing changes."""
        if not current_grant().can(self.policy_key, action):
            abort(403)

    def _posted(self, action):
        """The subscription a POST for `action` acts on (403 without the permission, 404 out of scope),
        or None when the token is stale."""
        self._require(action)
        if not TokenForm(request.form).validate():
            flash("表单已过期，请刷新页面后重试。", "error")
            return None
        return self.get_one(request.form.get("id"))

    def _back(self, model_id):
        return redirect(self.get_url(".details_view", id=model_id))

    @expose("/toggle/", methods=("POST",))
    def toggle_view(self):
        """暂停/恢复."""
        model = self._posted("edit")
        if model is None:
            return self._back(request.form.get("id"))
        enabled = not model.enabled
        with db.atomic():
            subscriptions.set_enabled(model, enabled)
            audit("resume" if enabled else "pause", self.policy_key, model.id, {"enabled": [not enabled, enabled]})
        flash("订阅已恢复，将从下一次计划时间开始发送。" if enabled else "订阅已暂停，暂停期间不会发送。", "success")
        return self._back(model.id)

    @expose("/send/", methods=("POST",))
    def send_view(self):
        """立即发送: an ad-hoc occurrence, delivered by a worker through the same deliver() as the schedule."""
        import jobs
        from subscriptions.tasks import deliver_task

        model = self._posted("edit")
        if model is None:
            return self._back(request.form.get("id"))
        try:
            ids = engine.plan_now(model)
        except ValueError as error:  # paused
            flash(str(error), "error")
            return self._back(model.id)
        if not ids:
            flash("没有可以接收的收件人（用户已停用或没有邮箱），未发送。", "error")
            return self._back(model.id)
        audit("send", self.policy_key, model.id, {"deliveries": ids})
        jobs.configure(current_app.config)  # the queue the workers read: QUEUE_URL or instance/queue.db
        try:
            for delivery_id in ids:
                deliver_task(delivery_id)
        except Exception as error:  # noqa: BLE001 - queue unreachable: the minute job picks the rows up
            flash(f"无法加入队列（{error}）；worker 的每分钟任务会发送这些待发送记录。", "error")
            return self._back(model.id)
        flash("已加入发送队列", "success")
        return self._back(model.id)

    @expose("/preview/")
    def preview_view(self):
        """预览邮件: the mail per recipient scope, from the latest finished run (view permission)."""
        model = self.get_one(request.args.get("id"))
        items = subscription_preview.preview(model, current_user)
        from reporting import background

        waiting = any(item.pending is not None and item.run is None for item in items)
        missing = any(item.visible and not item.error and item.run is None and item.pending is None for item in items)
        no_worker = any(item.pending is not None and item.run is None
                        and background.waiting_for_worker(item.pending, current_app.config) for item in items)
        return self.render("admin/subscriptions/preview.html", model=model, items=items, waiting=waiting,
                           missing=missing, no_worker=no_worker, form=TokenForm(),
                           report_title=report_title(model.report))

    @expose("/preview/generate/", methods=("POST",))
    def generate_view(self):
        """Queue the runs a preview needs on the jobs queue (no mail is sent); the preview page waits for them."""
        from reporting import background

        model = self._posted("view")
        if model is None:
            return redirect(self.get_url(".preview_view", id=request.form.get("id")))
        try:
            runs = subscription_preview.queue_runs(model, current_user)
        except reporting.ReportError as error:
            flash(str(error), "error")
            return redirect(self.get_url(".preview_view", id=model.id))
        for run in runs:
            audit("run", "reportrun", run.id, {"report": run.report, "parameters": run.params,
                                               "subscription": model.id})
            try:
                background.submit(run.id, current_app.config)
            except background.QueueUnavailable as error:  # the run is marked failed with the reason
                flash(f"预览用的报表未能开始运行：{error}", "error")
                return redirect(self.get_url(".preview_view", id=model.id))
        flash("预览用的报表已加入后台队列（不发送邮件），完成后本页自动显示预览。", "success")
        return redirect(self.get_url(".preview_view", id=model.id))

    @expose("/preview/html/")
    def preview_html_view(self):
        """The HTML body of one scope's mail, served with a CSP that allows no scripts (shown in an iframe)."""
        model = self.get_one(request.args.get("id"))
        key = request.args.get("scope", "")
        item = next((i for i in subscription_preview.preview(model, current_user) if i.key == key), None)
        if item is None or item.message is None:
            abort(404)
        response = current_app.response_class(item.body("html"), mimetype="text/html")
        response.headers["Content-Security-Policy"] = REPORT_CSP
        return response
