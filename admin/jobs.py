"""后台任务: every registered periodic job with its schedule, last run, next run and
status, and 立即运行 (run now), which queues the job for a worker.

Jobs are code, not records, so this is a plain view rather than a PolicyModelView.  It is
gated on the role screen's permissions, which only admins hold by default: seeing the
jobs needs role/view, running one needs role/edit.  Whoever may change the access policy
may also run the installation's housekeeping.
"""
from flask import abort, current_app, flash, redirect, request
from flask_admin import expose
from flask_login import current_user

import jobs
from i18n import current_language
from models import JobRun
from models.jobs import JOB_STATUSES, JOB_TRIGGERS

from .secured import PolicyView, TokenForm, audit, current_grant

POLICY_KEY = "role"
RECENT = 20  # runs listed under the jobs

TEXT = {
    "zh": {"title": "后台任务", "name": "任务", "description": "说明", "schedule": "计划", "enabled": "启用",
           "last_run": "上次运行", "next_run": "下次运行", "status": "状态", "duration": "耗时（秒）",
           "worker": "执行者", "run": "立即运行", "never": "未运行", "off": "已停用", "yes": "是", "no": "否",
           "none": "还没有注册的定时任务。", "recent": "最近的运行", "trigger": "触发", "user": "发起人",
           "error": "错误信息", "queued": "已加入队列：{name}（运行 #{id}），由 worker 执行。",
           "expired": "表单已过期，请刷新页面后重试。", "unknown": "未知的后台任务：{name}",
           "failed": "无法加入队列：{error}",
           "hint": "计划为 cron 表达式（分 时 日 月 星期，worker 所在时区）；任务由 `run.py worker` 执行。"},
    "en": {"title": "Background jobs", "name": "Job", "description": "Description", "schedule": "Schedule",
           "enabled": "Enabled", "last_run": "Last run", "next_run": "Next run", "status": "Status",
           "duration": "Duration (s)", "worker": "Worker", "run": "Run now", "never": "never", "off": "disabled",
           "yes": "yes", "no": "no", "none": "No periodic jobs are registered yet.", "recent": "Recent runs",
           "trigger": "Trigger", "user": "Started by", "error": "Error",
           "queued": "Queued: {name} (run #{id}); a worker will run it.",
           "expired": "The form has expired; reload the page and try again.", "unknown": "Unknown job: {name}",
           "failed": "Could not queue: {error}",
           "hint": "Schedules are cron expressions (minute hour day month weekday, the worker's time zone); "
                   "`run.py worker` runs the jobs."},
}
STATUS_NAMES = {"zh": dict(JOB_STATUSES), "en": {key: key for key, _ in JOB_STATUSES}}
TRIGGER_NAMES = {"zh": dict(JOB_TRIGGERS), "en": {key: key for key, _ in JOB_TRIGGERS}}


class JobsView(PolicyView):
    policy_key = POLICY_KEY

    @expose("/")
    def index(self):
        jobs.discover()
        language = current_language()
        can_run = current_grant().can(POLICY_KEY, "edit")
        return self.render("admin/jobs/index.html", rows=jobs.overview(), text=TEXT[language],
                           statuses=STATUS_NAMES[language], triggers=TRIGGER_NAMES[language],
                           recent=JobRun.select().order_by(JobRun.id.desc()).limit(RECENT),
                           can_run=can_run, form=TokenForm() if can_run else None)

    @expose("/run/", methods=("POST",))
    def run_view(self):
        if not current_grant().can(POLICY_KEY, "edit"):
            abort(403)
        text = TEXT[current_language()]
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
            return redirect(self.get_url(".index"))
        name = request.form.get("job", "")
        jobs.discover()
        try:
            jobs.get(name)
        except KeyError:
            flash(text["unknown"].format(name=name), "error")
            return redirect(self.get_url(".index"))
        jobs.configure(current_app.config)  # the queue the workers read: QUEUE_URL or instance/queue.db
        try:
            run = jobs.run_now(name, username=current_user.username)
        except Exception as error:  # noqa: BLE001 - the queue is unreachable; the run is marked failed
            flash(text["failed"].format(error=error), "error")
            return redirect(self.get_url(".index"))
        audit("run", "job", name, {"job": name, "run": run.id})
        flash(text["queued"].format(name=name, id=run.id), "success")
        return redirect(self.get_url(".index"))
