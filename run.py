#!/usr/bin/env python
"""Command line of the platform:  python run.py --help"""
import os
import secrets
import sys

import click
from flask.cli import FlaskGroup

from settings import ConfigError
from web import create_app
from web.setup import init_db as _init_db


def _create_app():
    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None  # a message, not a traceback


class CommandLine(FlaskGroup):
    def list_commands(self, ctx):
        # All commands are defined here; building the app just to print --help would
        # fail in production before the keys are configured.
        return sorted(self.commands)

    def invoke(self, ctx):
        """A command whose write waited for another one past DATABASE_BUSY_SECONDS (SQLite's write lock held
        by a long import, say) says so in a sentence instead of a traceback; its transaction was rolled back."""
        from peewee import OperationalError

        from models import contention

        try:
            return super().invoke(ctx)
        except OperationalError as error:
            if not contention.is_busy(error):
                raise
            raise click.ClickException(f"{contention.BUSY_MESSAGE}：{contention.BUSY_DETAIL}") from None


@click.group(cls=CommandLine, create_app=_create_app, add_default_commands=False, add_version_option=False)
def cli():
    """客户资料管理与分析平台 — customer data management and analysis."""


@cli.command("init-db")
def init_db():
    """Create tables, indexes, default lists and the default access policy (idempotent)."""
    _init_db()
    click.echo("数据库已初始化 / database ready")


@cli.command("backup")
@click.option("--to", "directory", default=None, type=click.Path(file_okay=False),
              help="where to write it (default BACKUP_DIR, else instance/backups/)")
@click.option("--keep", default=None, type=click.IntRange(min=1), help="keep the newest N backups of this naming (BACKUP_KEEP, 14)")
@click.option("--encrypt", is_flag=True, help="encrypt with BACKUP_KEY, else FIELD_KEY (AES-GCM)")
@click.option("--checksums", is_flag=True, help="also record a content checksum per table, checked on restore (slower)")
def backup_command(directory, keep, encrypt, checksums):
    """Back the database up (SQLite online backup / pg_dump) to a compressed file named by time; print its path."""
    from flask import current_app

    import backup

    try:
        settings = backup.from_env()
        key, key_name = backup.master_key(settings, current_app.config.get("FIELD_KEY")) if encrypt else (None, None)
        made = backup.create(directory or settings.directory, keep=keep or settings.keep, encrypt=encrypt, key=key,
                             key_name=key_name, checksums=checksums)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"备份完成 / backup written: {backup.describe(made.manifest)}", err=True)
    for path in made.deleted:
        click.echo(f"已删除较早的备份 / removed: {path}", err=True)
    click.echo(made.path)


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="overwrite a database that already holds records")
def restore_command(path, force):
    """Restore backup PATH into the configured database, after checking its checksum and key."""
    from flask import current_app

    import backup

    try:
        settings = backup.from_env()
        manifest = backup.archive.read_manifest(path)
        key = None
        if manifest.get("encrypted"):
            key, _ = backup.master_key(settings, current_app.config.get("FIELD_KEY"))
        manifest = backup.restore(path, key=key, force=force)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"已恢复 / restored: {backup.describe(manifest)}，行数与清单一致")


@cli.command("rotate-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100000),
              help="rows per transaction")
@click.option("--pause", default=0.0, type=click.FloatRange(0, 3600), help="seconds to wait between batches")
@click.option("--status", "status_only", is_flag=True, help="only show what is not yet under FIELD_KEY")
def rotate_key(batch_size, pause, status_only):
    """Re-encrypt every sealed value and digest under FIELD_KEY (FIELD_KEY_OLD: the previous key); resumable."""
    import keyrotation

    if status_only:
        state = keyrotation.progress()
        left = keyrotation.remaining()
        click.echo(f"当前密钥 {keyrotation.sealed.current_key_id()}：" + ("已完成" if state and state.get("finished_at")
                   else "进行中" if state else "未开始"))
        for target in keyrotation.TARGETS:
            click.echo(f"  {target.label}：{left[target.name]:,} 行未使用当前密钥")
        return
    try:
        keyrotation.rotate(batch_size=batch_size, pause=pause, username="cli",
                           echo=lambda line: click.echo(line, err=True))
    except keyrotation.RotationError as error:
        raise click.ClickException(str(error)) from None


@cli.command("create-user")
@click.argument("username")
@click.option("--role", required=True, help="role name, e.g. admin / manager / sales / service")
@click.option("--name", "display_name", default=None, help="display name")
@click.option("--manager", default=None, help="username of this user's manager")
@click.option("--password", default=None, help="initial password (generated and printed if omitted)")
def create_user(username, role, display_name, manager, password):
    """Create a staff account; the user must change the password at first login."""
    from models import Role, User

    role_row = Role.get_or_none(Role.name == role)
    if role_row is None:
        raise click.UsageError(f"unknown role {role!r}; known: {', '.join(r.name for r in Role.select())}")
    if User.select().where(User.username == username).exists():
        raise click.UsageError(f"user {username!r} already exists")
    boss = None
    if manager:
        boss = User.get_or_none(User.username == manager)
        if boss is None:
            raise click.UsageError(f"unknown manager {manager!r}")
    from credentials import generate_password, password_problems

    if password is not None:
        problems = password_problems(password, username)
        if problems:
            raise click.UsageError("密码不符合要求 / password refused: " + "；".join(problems))
    password = password or generate_password(username=username)
    user = User(username=username, display_name=display_name or username, role=role_row, manager=boss,
                must_change_password=True)
    user.set_password(password)
    user.save()
    click.echo(f"created {username} ({role_row.label}); initial password: {password}")


@cli.command("api-token")
@click.argument("username")
@click.option("--name", default="命令行创建", show_default=True, help="what the token is for, e.g. ERP 同步")
@click.option("--days", default=90, show_default=True, type=int, help="days until it expires")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True,
              help="read: GET only; write: also create and change records")
def api_token(username, name, days, scope):
    """Create an API token for USERNAME and print it (shown once: only its digest is stored); audited."""
    import datetime

    from models import User
    from models import tokens

    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.UsageError(f"用户 {username} 不存在")
    if not user.is_active:
        raise click.UsageError(f"用户 {username} 已停用，其令牌不能使用")
    try:
        token, clear = tokens.issue(user, name, days, scope, datetime.datetime.now())
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(clear)
    click.echo(f"令牌“{token.name}”（{scope}），属于 {username}，有效期至 {token.expires_at:%Y-%m-%d %H:%M}；"
               "请立即保存，它不会再次显示。", err=True)


@cli.command("demo")
@click.option("--customers", default=2000, show_default=True, help="how many customers to generate")
@click.option("--seed", default=7, show_default=True, help="random seed (same seed, same data)")
@click.option("--password", default=None, help="password of every demo user (generated and printed if omitted)")
@click.option("--today", default=None, type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="the day the generated history ends (default: today); same seed and day, same data")
def demo(customers, seed, password, today):
    """Reset the database and fill it with realistic demo data."""
    import demo as demo_data

    _init_db()
    password = password or secrets.token_urlsafe(9)
    demo_data.generate(customers=customers, seed=seed, password=password, progress=True, now=today)
    _seed_pipeline(today.date() if today else None)
    _refresh_values(today.date() if today else None)
    click.echo("演示账号 / demo logins (password: %s):" % password)
    for username, label in demo_data.DEMO_USERS_SUMMARY:
        click.echo(f"  {username:<10} {label}")
    _seed_subscriptions()


def _seed_pipeline(day=None):
    """The demo's 状态流转 (the seeded automatic transitions) and their sweep for the generated day, stamped at its
    midnight as the demo's tag rules are, so the screens show the rules and their reasons from the start."""
    import datetime

    import pipeline

    day = day or datetime.date.today()
    created = pipeline.seed_transitions()
    results = pipeline.sweep(as_of=day, today=day, now=datetime.datetime.combine(day, datetime.time()))
    moved = sum(r.changed for r in results)
    click.echo(f"状态流转 / pipeline transitions: {len(created)} 条规则，{moved:,} 位客户按规则变更")


def _refresh_values(day=None):
    """The demo's 客户价值分析表 for the generated day (default today), so the screen is filled before the first
    nightly job."""
    import datetime

    import valuation

    day = day or datetime.date.today()
    click.echo("客户价值分析表 / customer value table ...")
    outcome = valuation.refresh(day, trigger="cli")
    click.echo(f"  {outcome.customers:,} 位客户，数据日期 {day}，用时 {outcome.duration:.1f} 秒")


def _seed_subscriptions():
    """The demo's report subscriptions, and when each first mails (the worker sends them)."""
    from demo import report_subscriptions
    from subscriptions import period_label

    # CRM_ENV=demo points SMTP at the local mailbox (run.py mailbox) unless SMTP_HOST is set.
    server = f"{os.environ.get('SMTP_HOST') or 'localhost'}:{os.environ.get('SMTP_PORT') or '25'}"
    click.echo(f"报表订阅 / report subscriptions (worker 发往 SMTP {server}):")
    for subscription, upcoming in report_subscriptions.seed():
        click.echo(f"  {subscription.owner.username:<9} 下次 {period_label(subscription, upcoming)}  {subscription.name}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host, port, threads):
    """Serve the admin with waitress (a production WSGI server)."""
    from flask import current_app
    from waitress import serve as waitress_serve

    click.echo(f"serving on http://{host}:{port}/admin/")
    waitress_serve(current_app._get_current_object(), host=host, port=port, threads=threads)


@cli.command("worker", with_appcontext=False)
@click.option("--workers", default=2, show_default=True, type=int, help="worker threads in this process")
@click.option("--import", "modules", multiple=True, metavar="MODULE",
              help="also import MODULE, which registers tasks or jobs (repeatable)")
def worker(workers, modules):
    """Run the background worker: queued tasks and the periodic jobs (QUEUE_URL chooses the queue)."""
    from jobs import worker as job_worker

    try:
        job_worker.run(job_worker.load_config(), workers=workers, modules=modules, echo=click.echo)
    except (ConfigError, ValueError) as error:  # missing keys, or a QUEUE_URL it cannot use
        raise click.ClickException(str(error)) from None


@cli.command("mailbox", with_appcontext=False)
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1; loopback only)")
@click.option("--port", default=None, type=int, help="SMTP port (default 8025)")
@click.option("--dir", "directory", default=None, envvar="MAILBOX_DIR", type=click.Path(file_okay=False),
              help="where to keep the .eml files (default instance/mail/; env MAILBOX_DIR)")
@click.option("--allow-remote", is_flag=True, help="also listen on a non-loopback address (no login: demo only)")
def mailbox(host, port, directory, allow_remote):
    """Local SMTP server for the demo: keep every mail as an .eml file and print one line per mail."""
    from delivery import sink
    from settings import INSTANCE

    try:
        sink.serve(directory or os.path.join(INSTANCE, "mail"), host=host or sink.DEFAULT_HOST,
                   port=port or sink.DEFAULT_PORT, allow_remote=allow_remote,
                   announce=click.echo)
    except sink.SinkError as error:
        raise click.ClickException(str(error)) from None


def _day_of(as_of, default_today=True):
    """The sweeps' --as-of YYYY-MM-DD as a date (absent: today, or None to let the sweep choose); refused with a
    Chinese message when it does not parse or names a day that has not come (that day's facts are not known yet)."""
    import datetime

    try:
        day = datetime.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise click.UsageError(f"--as-of 应为 YYYY-MM-DD，收到 {as_of!r}") from None
    if day is not None and day > datetime.date.today():
        raise click.UsageError(f"--as-of 不能晚于今天：{as_of}")
    return day if day is not None or not default_today else datetime.date.today()


def _user_named(username):
    """The user called `username`, None for no name; an unknown name is a usage error."""
    from models import User

    if not username:
        return None
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.UsageError(f"unknown user {username!r}")
    return user


@cli.command("report")
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="report parameter (repeatable)")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="run with this user's access scope (default: the system, with full access)")
def report(name, params, as_user):
    """Run report NAME (segmentation / lifecycle / value); print the HTML path and run id."""
    from flask import current_app

    import reporting

    supplied = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param 应为 key=value，收到 {item!r}")
        supplied[key.strip()] = value
    user = _user_named(as_user)
    try:
        run = reporting.run_report(name, supplied, user=user, config=current_app.config, progress_bar=True)
    except reporting.ReportError as error:
        raise click.ClickException(str(error)) from None
    if run.status != "success":
        raise click.ClickException(f"报表运行失败（{run.run_id}）：{run.error_name}: {run.error}\n"
                                   f"已执行的笔记本 / executed notebook: {run.notebook_path}")
    click.echo(run.html_path)
    click.echo(f"run id: {run.run_id}  ({run.duration:.1f}s)")


@cli.command("quality")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of the table")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="count within this user's access scope (default: the system, every record)")
@click.option("--today", default=None, metavar="YYYY-MM-DD", help="the day dates are checked against (default: today)")
@click.option("--stale-days", default=None, type=click.IntRange(min=1), help="untouched for more than N days (365)")
def quality_scan(as_json, as_user, today, stale_days):
    """Data-quality scan: the number of records per finding (数据质量)."""
    import datetime

    from quality import report as quality_report

    try:
        day = datetime.date.fromisoformat(today) if today else None
    except ValueError:
        raise click.UsageError(f"--today 应为 YYYY-MM-DD，收到 {today!r}") from None
    data = quality_report.summary(_user_named(as_user), day, stale_days)
    click.echo(quality_report.as_json(data) if as_json else quality_report.as_text(data))


@cli.command("deliveries")
@click.option("--limit", default=20, show_default=True, type=int, help="how many, newest occurrence first")
@click.option("--plan", "plan_now", is_flag=True, help="first plan every occurrence due by now (as the worker's job does)")
def deliveries(limit, plan_now):
    """List report subscription deliveries (报表订阅发送记录): occurrence, status, attempts, recipients, error."""
    import subscriptions
    from models import Delivery

    if plan_now:
        click.echo(f"已排期 {subscriptions.plan()} 个到期的计划时间")
    rows = Delivery.select().order_by(Delivery.scheduled_for.desc(), Delivery.id.desc()).limit(limit)
    for row in rows:
        sent = f" 发送于 {row.sent_at:%Y-%m-%d %H:%M} UTC" if row.sent_at else ""
        click.echo(f"#{row.id} {row.subscription.name} {row.period} {row.status} 尝试 {row.attempts} 次{sent}"
                   f" → {'、'.join(row.addresses) or '（无）'}" + (f"\n    {row.error}" if row.error else ""))


@cli.command("import")
@click.argument("kind")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="import the valid rows even when some rows are rejected")
@click.option("--dry-run", is_flag=True, help="check everything and report, write nothing")
@click.option("--owner", default=None, metavar="USERNAME", help="owner of new customers without an owner column")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="import with this user's permissions and scope (default: the system, with full access)")
@click.option("--key", type=click.Choice(["mobile", "email"]), default=None,
              help="customers without codes: match existing ones by normalised mobile or e-mail")
@click.option("--sheet", default=None, metavar="NAME", help="XLSX: the sheet to import (default: the first)")
@click.option("--errors", "errors_to", default=None, type=click.Path(dir_okay=False), metavar="OUT.xlsx",
              help="where to write the rejected rows (default: instance/imports/)")
def import_data(kind, path, skip_invalid, dry_run, owner, as_user, key, sheet, errors_to):
    """Import a CSV/XLSX file of KIND (customers, followups, orders, users), all or nothing by default.

    cdnow: the CDNOW sample (without PATH the one shipped with lifetimes)."""
    import json

    import intake
    from models import AuditLog

    if kind not in intake.KINDS:
        try:
            importer = intake.get(kind)
        except KeyError as error:
            raise click.ClickException(error.args[0]) from None
        user = _user_named(owner)
        try:
            counts = importer(path, owner=user, progress=True)
        except ValueError as error:  # every bad line is named; nothing was written
            raise click.ClickException(str(error)) from None
        AuditLog.create(username="system", action="import", model="customer", rows=counts.get("customers"),
                        changes=json.dumps({"kind": kind, "path": path, **counts}, ensure_ascii=False))
        click.echo("已导入 / imported: " + ", ".join(f"{name} {count:,}" for name, count in counts.items()))
        return
    if not path:
        raise click.UsageError(f"请给出要导入的文件：run.py import {kind} PATH")
    user = _user_named(as_user)
    try:
        report = intake.import_file(path, kind, user=user, owner=owner, key=key, sheet=sheet, errors_to=errors_to,
                                    skip_invalid=skip_invalid, dry_run=dry_run, progress=_ProgressBar())
    except intake.ImportRefused as error:
        raise click.ClickException(str(error)) from None
    _echo_report(report)
    if not report.written and report.rejected and not dry_run:
        sys.exit(1)


class _ProgressBar:
    """Import progress on stderr: a bar on a terminal, else one line per 10 % written."""

    def __init__(self):
        self.bar = None
        self.shown = -1

    def __call__(self, done, total, stage):
        if stage != "write" or not total:
            return
        if sys.stderr.isatty():
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="写入", file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(done - self.bar.pos)
            if done >= total:
                self.bar.__exit__(None, None, None)
            return
        tenth = done * 10 // total
        if tenth > self.shown:
            self.shown = tenth
            click.echo(f"写入 {done:,}/{total:,} 行（{tenth * 10}%）", err=True)


def _echo_report(report):
    click.echo(f"{report.filename}：{report.description}")
    for note in report.notes:
        click.echo(f"提示：{note}")
    if report.unknown:
        click.echo("未识别的列（已忽略）：" + "、".join(report.unknown))
    for message in report.column_errors:
        click.echo(f"列被拒绝：{message}")
    for error in report.errors:
        value = error.as_dict()["value"]
        column = f"“{error.column}”" if error.column else ""
        hint = f"（{error.hint}）" if error.hint else ""
        click.echo(f"第 {error.row} 行 {column} 值“{value}”：{error.reason}{hint}")
    for found in report.duplicates:
        matches = "；".join(f"{m['code']} {m['name']}（{m['reason']}）" for m in found["matches"])
        click.echo(f"第 {found['row']} 行“{found['name']}”疑似已有客户：{matches}")
    click.echo(report.summary())
    if report.error_file:
        click.echo(f"有错误的行已保存到 / rejected rows: {report.error_file}")
    if report.batch_id and report.written:
        click.echo(f"导入批次 / batch: {report.batch_id}（撤销：run.py import-undo {report.batch_id}）")
    if report.passwords:
        click.echo("新用户的初始密码（仅显示这一次，首次登录须修改）/ initial passwords:")
        for username, password in report.passwords:
            click.echo(f"  {username}  {password}")


@cli.command("import-undo")
@click.argument("batch_id", type=int)
@click.option("--as", "as_user", default=None, metavar="USERNAME", help="undo with this user's permissions")
@click.option("--force", is_flag=True, help="undo even when records were changed after the import")
def import_undo(batch_id, as_user, force):
    """Undo import BATCH_ID: created records are deleted, updated ones get their earlier values back."""
    import intake

    try:
        counts = intake.undo(batch_id, user=_user_named(as_user), force=force)
    except intake.UndoRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"已撤销导入批次 {batch_id}：删除 {counts['deleted']:,} 条，恢复 {counts['restored']:,} 条")


@cli.command("import-template", with_appcontext=True)
@click.argument("kind")
@click.argument("out", type=click.Path(dir_okay=False))
def import_template(kind, out):
    """Write the XLSX import template of KIND (Chinese headers and an example row) to OUT."""
    import intake

    try:
        data = intake.template(kind)
    except KeyError as error:
        raise click.ClickException(error.args[0]) from None
    with open(out, "wb") as handle:
        handle.write(data)
    click.echo(out)


@cli.command("lab")
@click.option("--port", default=8888, show_default=True, type=int)
@click.option("--no-browser", is_flag=True, help="do not open a browser")
def lab(port, no_browser):
    """Start JupyterLab on notebooks/ with this installation's database configured."""
    from flask import current_app

    # The kernels inherit these, so analytics.session.connect() binds the same database as the app.
    env = dict(os.environ, DATABASE_URL=current_app.config["DATABASE_URL"], FIELD_KEY=current_app.config["FIELD_KEY"])
    root = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
               f"--notebook-dir={os.path.join(root, 'notebooks')}"]
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI run as root; Jupyter refuses otherwise
    # Become JupyterLab (exec) rather than wait on a child: a supervisor's SIGTERM then stops the
    # server itself instead of orphaning it on its port.
    os.execve(sys.executable, command, env)


def _scope_of(user):
    """Owner ids `user` may reach (None: everyone's, also for no user, the system)."""
    import access

    return None if user is None else access.owner_ids(user, access.grant_for(user))


@cli.command("duplicates")
@click.option("--json", "as_json", is_flag=True, help='print a JSON list of {"codes": [...], "reason": ..., "score": ...}')
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="scan only this user's customers (default: the system, every customer)")
@click.option("--min-score", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="leave out links weaker than this (0.9: exact kinds and equal company names only)")
def duplicates(as_json, as_user, min_score):
    """Scan the customers for duplicates (重复客户): groups with their reason and score."""
    import json

    import dedup

    groups = dedup.scan(owner_ids=_scope_of(_user_named(as_user)), min_score=min_score)
    if as_json:
        lines = ",\n ".join(json.dumps(g.as_json(), ensure_ascii=False) for g in groups)
        click.echo(f"[{lines}]" if not groups else f"[\n {lines}\n]")
        return
    for number, group in enumerate(groups, 1):
        click.echo(f"#{number} {group.score:.2f} {group.reason}")
        for code, name in zip(group.codes, group.names):
            click.echo(f"    {code}  {name}")
    click.echo(f"{len(groups)} 组可能重复的客户 / groups of probable duplicates")


def _customer_ids(codes):
    from models import Customer

    found = dict(Customer.select(Customer.code, Customer.id).where(Customer.code.in_(list(codes))).tuples())
    missing = [c for c in codes if c not in found]
    if missing:
        raise click.UsageError(f"unknown customer code(s): {', '.join(missing)}")
    return [found[c] for c in codes]


@cli.group("personal-data")
def personal_data():
    """Personal-data requests (PIPL / GDPR) for one customer: export everything held, or erase (anonymise)."""


@personal_data.command("export")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["json", "xlsx"]), default="json", show_default=True)
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="file to write (default: CODE-个人数据.json/.xlsx in the current directory)")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="export with this user's permission, row scope and column rules, audited as them "
                   "(default: every column in clear, audited as cli)")
def personal_data_export(code, fmt, out, as_user):
    """Export everything held about customer CODE (audited)."""
    import privacy

    user = _user_named(as_user)
    try:
        document = privacy.export(code, user, fmt=fmt)
    except privacy.PrivacyError as error:
        raise click.ClickException(str(error)) from None
    path = out or f"{document['customer_code']}-个人数据.{fmt}"
    with open(path, "wb") as handle:
        handle.write(privacy.as_json(document) if fmt == "json" else privacy.as_xlsx(document))
    rows = sum(len(s["rows"]) for s in document["sections"])
    click.echo(f"已导出客户 {document['customer_code']} 的个人数据：{rows:,} 行 → {path}")


@personal_data.command("erase")
@click.argument("code")
@click.option("--yes", is_flag=True, help="confirm: erasing cannot be undone")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="erase with this user's permission and row scope, audited as them (default: audited as cli)")
def personal_data_erase(code, yes, as_user):
    """Erase (anonymise) customer CODE for good: names, contacts, sensitive values; orders kept (audited)."""
    import privacy

    if not yes:
        raise click.UsageError("匿名化不能撤销：确认请加 --yes")
    user = _user_named(as_user)
    try:
        counts = privacy.erase(code, user, confirm=code)
    except privacy.PrivacyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"已匿名化客户 {code.strip()}：" + "，".join(f"{k} {v}" for k, v in counts.items()))


@personal_data.command("erased")
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="only erasures on or after this day")
def personal_data_erased(since):
    """List the customers erased (from the audit log): save it before restoring a backup, erase them again after."""
    import datetime

    import privacy

    try:
        start = datetime.datetime.strptime(since, "%Y-%m-%d") if since else None
    except ValueError:
        raise click.UsageError(f"--since 应为 YYYY-MM-DD，收到 {since!r}") from None
    for at, code, username in privacy.erased(start):
        click.echo(f"{code}\t{at:%Y-%m-%d %H:%M:%S}\t{username or ''}")


@cli.command("merge")
@click.argument("survivor")
@click.argument("others", nargs=-1, required=True)
@click.option("--pick", "picks", multiple=True, metavar="FIELD=CODE",
              help="take FIELD from customer CODE (repeatable); unpicked fields keep the survivor's value or fill its blanks")
@click.option("--as", "as_user", default=None, metavar="USERNAME", help="merge within this user's scope, audited as them")
def merge_customers(survivor, others, picks, as_user):
    """Merge customers OTHERS into SURVIVOR (codes); prints the merge id that `merge-undo` takes."""
    from dedup.merge import MergeError, merge

    user = _user_named(as_user)
    ids = _customer_ids([survivor, *others])
    chosen = {}
    for item in picks:
        field, sep, code = item.partition("=")
        if not sep:
            raise click.UsageError(f"--pick 应为 FIELD=CODE，收到 {item!r}")
        chosen[field.strip()] = _customer_ids([code.strip()])[0]
    try:
        record = merge(ids[0], ids[1:], chosen, username=user.username if user else None, owner_ids=_scope_of(user))
    except MergeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"已合并 {record.merged_codes} → {record.survivor_code}（合并记录 {record.id}，可用 merge-undo {record.id} 撤销）")


@cli.command("merge-undo")
@click.argument("merge_id", type=int)
@click.option("--as", "as_user", default=None, metavar="USERNAME", help="undo within this user's scope, audited as them")
def merge_undo(merge_id, as_user):
    """Undo merge MERGE_ID: the merged-away customers and everything that moved come back."""
    from dedup.merge import MergeError, undo

    user = _user_named(as_user)
    try:
        record = undo(merge_id, username=user.username if user else None, owner_ids=_scope_of(user))
    except MergeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"已撤销合并记录 {record.id}：{record.merged_codes} 已恢复")


@cli.command("pipeline")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="apply the transitions for this day (default: today; the daily job uses today)")
@click.option("--seed", is_flag=True, help="first create the seeded transitions (首次下单成交, 180天未下单流失, 报价待成交, "
                                           "流失客户回购) that are missing")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of the table")
def pipeline_sweep(as_of, seed, as_json):
    """Daily sweep of the status pipeline: automatic status changes and tags (状态流转)."""
    import json

    import pipeline

    day = _day_of(as_of, default_today=False)
    if seed:
        for transition in pipeline.seed_transitions():
            click.echo(f"已创建状态流转：{transition.name}")
    results = pipeline.sweep(as_of=day)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], ensure_ascii=False))
        return
    if not results:
        click.echo("没有启用的状态流转（在 基础数据 → 状态流转 中新建，或用 --seed 创建默认流转）")
    for r in results:
        if r.skipped:
            click.echo(f"{r.name}：{r.skipped}，跳过")
        else:
            click.echo(f"{r.name}（→ {r.target}）：触发 {r.fired}，变更 {r.changed}" + (f"，移除标签 {r.untagged}" if r.untagged else ""))


@cli.command("tag-rules")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="evaluate the rules for this day (default: today; the daily job uses today)")
@click.option("--seed", is_flag=True, help="first create the seeded rules (高价值, 流失风险, 近30天下单) that are missing")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of the table")
def tag_rules(as_of, seed, as_json):
    """Full sweep of the tag rules: rule tags added and removed as the conditions say (标签规则)."""
    import json

    import tagrules

    day = _day_of(as_of, default_today=False)
    if seed:
        for rule in tagrules.seed_rules():
            click.echo(f"已创建规则：{rule.name}")
    results = tagrules.sweep(as_of=day)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], ensure_ascii=False))
        return
    if not results:
        click.echo("没有标签规则（在 基础数据 → 标签规则 中新建，或用 --seed 创建示例规则）")
    for r in results:
        if r.skipped:
            state = "标签已停用，跳过" if r.skipped == "retired" else f"{r.skipped}，跳过"
        else:
            state = f"新增 {r.applied}，移除 {r.removed}"
        click.echo(f"{r.rule}（{r.tag}）：{state}")



@cli.command("refresh-values")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="compute the table for this day (default: today; the daily job uses today)")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of the summary")
def refresh_values(as_of, as_json):
    """Rebuild the customer value table (客户价值分析表): spend, orders, LTV, tier and last order per customer."""
    import json

    import valuation

    day = _day_of(as_of)
    outcome = valuation.refresh(day, trigger="cli")
    if as_json:
        click.echo(json.dumps({"as_of": day.isoformat(), "customers": outcome.customers, "basis": outcome.basis,
                               "tiers": outcome.tiers, "notes": outcome.notes, "timings": outcome.timings},
                              ensure_ascii=False))
        return
    basis = "客户生命周期价值" if outcome.basis == "ltv" else "年度消费额"
    click.echo(f"客户价值分析表已刷新：数据日期 {day}，{outcome.customers:,} 位客户，分层依据 {basis}，"
               f"用时 {outcome.duration:.1f} 秒")
    for tier, count in outcome.tiers.items():
        click.echo(f"  {tier}：{count:,}")
    for note in outcome.notes:
        click.echo(f"  说明：{note}")

@cli.command("refresh-dashboard")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="compute the home page's figures for this day (default: today; the daily job uses today)")
def refresh_dashboard(as_of):
    """Rebuild the dashboard's roll-ups (首页: sales per day, customer mix, funnel cohorts, top customers, rule tags)."""
    import json

    import dashboard

    day = _day_of(as_of)
    record = dashboard.refresh(day, trigger="cli")
    steps = "，".join(f"{table} {seconds:.1f} 秒" for table, seconds in json.loads(record.timings).items())
    click.echo(f"首页数据已刷新：统计至 {day}，用时 {record.duration:.1f} 秒（{steps}）")


@cli.command("reminders")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="the day of the sweep and of the digest (default: today; the daily jobs use today)")
@click.option("--seed", is_flag=True, help="first create the seeded reminder rules (流失风险, 高价值) that are missing")
@click.option("--digest", is_flag=True, help="also plan the day's digest mails and queue them for the worker")
@click.option("--json", "as_json", is_flag=True, help="print JSON for machines instead of the table")
def reminders_command(as_of, seed, digest, as_json):
    """Follow-up tasks: plans from follow-ups and the reminder rules swept (我的任务); --digest queues the mails."""
    import json

    from flask import current_app

    import reminders

    day = _day_of(as_of)
    if seed:
        for rule in reminders.seed_rules():
            click.echo(f"已创建提醒规则：{rule.name}")
    result = reminders.sweep(today=day)
    queued = []
    if digest:
        import jobs
        from reminders.tasks import daily_digest

        jobs.configure(current_app.config)
        queued = daily_digest(day)
    if as_json:
        click.echo(json.dumps({"as_of": day.isoformat(), "plans_opened": result.plans_opened,
                               "plans_closed": result.plans_closed, "reassigned": result.reassigned,
                               "rules": [r.__dict__ for r in result.rules], "digests_queued": queued},
                              ensure_ascii=False))
        return
    click.echo(f"跟进计划：新建任务 {result.plans_opened:,}，关闭 {result.plans_closed:,}")
    if not result.rules:
        click.echo("没有提醒规则（在 基础数据 → 提醒规则 中新建，或用 --seed 创建示例规则）")
    for r in result.rules:
        click.echo(f"{r.rule}（{r.tag}）：新建任务 {r.opened:,}，关闭 {r.closed:,}")
    if result.reassigned:
        click.echo(f"随客户负责人变更转交的任务：{result.reassigned:,}")
    if digest:
        click.echo(f"任务摘要邮件：{len(queued):,} 封已加入队列，由 worker 发送")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cli()
