"""Planning and delivering subscription occurrences: nothing lost, nothing sent twice.

plan(now)      every enabled subscription's occurrences after its planned_until and up to `now`
               become Delivery rows (catch-up after downtime), one per recipient scope, by an
               INSERT that ignores duplicates: two schedulers planning at once make one row.
ready(now)     pending deliveries whose (retry) time has come.
sweep(now)     deliveries whose worker died: "running" ones are handed out again, "sending"
               ones are failed (the mail may have gone out: at most once) and admins told.
deliver(id)    one worker claims the row with a conditional UPDATE, runs the report in the
               recipients' scope, and mails it only if the run succeeded: status "sending" is
               written before the mail goes to SMTP and "sent" right after.

Times in Delivery/Subscription bookkeeping are naive UTC.  Retries: a failed notebook run or
SmtpUnavailable goes back to "pending" with an exponential backoff (RETRY_SECONDS · 2^(n-1)),
up to ATTEMPTS attempts; SmtpRejected, a report that cannot run, and the last failure end in
"failed" with a notice mailed to the admins (role admin, active, with an e-mail address).
"""
import datetime
import hashlib
import json
import logging
import os
from email.headerregistry import Address

from peewee import fn

from jobs import liveness, reaping
from jobs.liveness import worker_name
from models import Delivery, ReportRun, Role, Subscription, User, db

from . import schedule

log = logging.getLogger("subscriptions")
MAX_CATCH_UP = 100  # occurrences planned per subscription per pass; the rest on the next pass


def _env_number(name, default, kind=float):
    try:
        return kind(os.environ.get(name) or default)
    except ValueError:
        return default


def retry_seconds():
    """Base of the backoff: SUBSCRIPTION_RETRY_SECONDS (default 60)."""
    return _env_number("SUBSCRIPTION_RETRY_SECONDS", 60.0)


def max_attempts():
    """Attempts before a delivery fails for good: SUBSCRIPTION_ATTEMPTS (default 4)."""
    return max(1, _env_number("SUBSCRIPTION_ATTEMPTS", 4, int))


def lease_seconds():
    """After this long a claim by a worker on another machine counts as abandoned:
    SUBSCRIPTION_LEASE_SECONDS (default 3600, longer than any report run)."""
    return _env_number("SUBSCRIPTION_LEASE_SECONDS", 3600.0)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _naive_utc(moment):
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


# --- recipients and scopes -------------------------------------------------------------------
def scope_key(scope):
    """A short stable key for a scope (runner.scope_for's dict)."""
    canonical = {k: (sorted(v) if isinstance(v, (list, tuple, set)) else v) for k, v in scope.items()}
    return hashlib.sha1(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:16]


def user_address(user):
    """"显示名 <email>" of `user`, or None when the stored address is not usable."""
    from delivery import AddressError, parse_address

    try:
        address = parse_address(user.email or "", "收件人")
    except AddressError:
        log.warning("用户 %s 的邮箱地址无效，跳过：%r", user.username, user.email)
        return None
    return str(Address(display_name=user.display_name or "", addr_spec=address.addr_spec))


def recipient_groups(subscription):
    """[(run_as User, [addresses])], one per distinct scope among the recipients.

    The rule: each recipient user receives a run in their own scope (runner.scope_for); users
    whose scope equals the owner's share the owner's run; e-mail addresses typed in (people
    outside the platform) receive the OWNER's scope, since the owner chose to send them what
    the owner may see.  Inactive users and users without an e-mail address are left out.
    """
    from delivery import AddressError, parse_addresses
    from reporting.runner import scope_for

    owner = subscription.owner
    owner_key = scope_key(scope_for(owner))
    groups = {}  # key -> (run_as, addresses)
    if (subscription.recipient_emails or "").strip():
        try:
            emails = [str(a) for a in parse_addresses(subscription.recipient_emails)]
        except AddressError as error:
            log.warning("订阅 %s 的邮箱地址无效：%s", subscription.id, error)
            emails = []
        if emails:
            groups[owner_key] = (owner, emails)
    ids = subscription.user_ids
    users = User.select().where(User.id.in_(ids), User.active == True).order_by(User.id) if ids else []  # noqa: E712
    for user in users:
        address = user_address(user) if (user.email or "").strip() else None
        if address is None:
            continue
        key = scope_key(scope_for(user))
        run_as = owner if key == owner_key else user
        groups.setdefault(key, (run_as, []))[1].append(address)
    return [(key, run_as, addresses) for key, (run_as, addresses) in groups.items()]


# --- planning --------------------------------------------------------------------------------
def _declares_as_of(report_name, cache):
    if report_name not in cache:
        from reporting import registry
        from reporting.params import declared

        try:
            cache[report_name] = "as_of" in declared(registry.get(report_name).notebook)
        except registry.ReportError:
            cache[report_name] = False
    return cache[report_name]


def occurrence_rows(subscription, moment, groups, cache, label=""):
    """The Delivery rows (as dicts) of occurrence `moment` (naive UTC), one per recipient group
    (`groups` from recipient_groups(), or None to compute them here)."""
    params = subscription.params
    if not params.get("as_of") and _declares_as_of(subscription.report, cache):
        params["as_of"] = schedule.local_date(subscription, moment).isoformat()  # the day it fell due
    period = label + schedule.period_label(subscription, moment)
    return [{"subscription": subscription.id, "scheduled_for": moment, "scope_key": key, "period": period,
             "run_as": run_as.id, "parameters": json.dumps(params, ensure_ascii=False),
             "recipients": json.dumps(addresses, ensure_ascii=False)}
            for key, run_as, addresses in (recipient_groups(subscription) if groups is None else groups)]


def plan_now(subscription, now=None):
    """An ad-hoc occurrence of `subscription` at `now` (立即发送): its Delivery rows, pending at once;
    returns their ids (empty when no recipient can receive it).  They go through deliver() like any
    planned occurrence: claimed once, retried, sent at most once.  A paused subscription is refused,
    as deliver() would fail its rows anyway."""
    if not subscription.enabled:
        raise ValueError("订阅已暂停，不能立即发送；请先恢复")
    moment = _naive_utc(now).replace(microsecond=0)
    if moment.second == 0:  # scheduled occurrences fall on whole minutes: never take one's (unique) key
        moment += datetime.timedelta(seconds=1)
    rows = occurrence_rows(subscription, moment, None, {}, label="立即发送 ")
    if not rows:
        return []
    with db.atomic():
        Delivery.insert_many(rows).on_conflict_ignore().execute()
    return [row.id for row in Delivery.select(Delivery.id)
            .where((Delivery.subscription == subscription.id) & (Delivery.scheduled_for == moment))
            .order_by(Delivery.id)]


def plan(now=None):
    """Create the Delivery rows of every occurrence due by `now` (UTC); returns how many occurrences
    were planned by this call (another scheduler's rows are not counted twice, nor made twice)."""
    now = _naive_utc(now)
    planned, cache = 0, {}
    # Read them all before writing: on SQLite a SELECT still open keeps its old snapshot, and the first write
    # after another process's commit then fails at once ("database is locked") instead of waiting its turn.
    for subscription in list(Subscription.select().where(Subscription.enabled == True)):  # noqa: E712
        after = subscription.planned_until or _naive_utc(subscription.created_at.astimezone())
        try:
            due = schedule.occurrences(subscription, after, now, limit=MAX_CATCH_UP)
            groups = recipient_groups(subscription) if due else []
        except Exception:  # one broken subscription must not hold up the others
            log.exception("订阅 %s 无法排期，跳过", subscription.id)
            continue
        if not due:
            continue
        if not groups:
            log.warning("订阅 %s 没有可发送的收件人（用户已停用或没有邮箱），%s 次发送跳过", subscription.id, len(due))
        for moment in due:
            rows = occurrence_rows(subscription, moment, groups, cache)
            if rows:
                with db.atomic():
                    Delivery.insert_many(rows).on_conflict_ignore().execute()
            planned += 1
        # Only ever forward, so a slower scheduler never moves it back.
        (Subscription.update(planned_until=due[-1])
         .where((Subscription.id == subscription.id)
                & (Subscription.planned_until.is_null() | (Subscription.planned_until < due[-1])))
         .execute())
    return planned


def ready(now=None):
    """Ids of pending deliveries whose next attempt is due, oldest occurrence first."""
    now = _naive_utc(now)
    return [row.id for row in Delivery.select(Delivery.id)
            .where((Delivery.status == "pending")
                   & (Delivery.next_attempt_at.is_null() | (Delivery.next_attempt_at <= now)))
            .order_by(Delivery.scheduled_for, Delivery.id)]


def is_stale(row, now=None):
    """Was the worker that claimed `row` lost?  A dead process on this machine: at once; any other
    claim: when it is older than lease_seconds() (jobs.liveness)."""
    return liveness.lost(row.claimed_by, row.claimed_at, _naive_utc(now), lease_seconds())


def sweep(now=None):
    """Deal with deliveries left by lost workers; returns ids of "running" ones to hand out again.

    A "sending" delivery may have reached the mail server before the worker died; it is failed
    and the admins told, never sent again (at most once)."""
    now = _naive_utc(now)
    again = []
    for row in list(Delivery.select().where(Delivery.status.in_(["running", "sending"]))):  # read first: see plan()
        if not is_stale(row, now):
            continue
        if row.status == "running":
            again.append(row.id)
            continue
        error = (f"发送过程中 worker（{row.claimed_by}）中断，邮件可能已经发出；为避免重复发送，"
                 "不再自动重发。请确认收件人是否收到，必要时手动重新运行报表。")
        if _finish(row, "failed", error, expect="sending", claimed_by=row.claimed_by):
            notify_admins(Delivery.get_by_id(row.id), error)
    return again


# --- delivering ------------------------------------------------------------------------------
class NotebookFailed(Exception):
    retryable = True


def claim(delivery_id, now=None):
    """The Delivery, now "running" for this worker, or None when it is not ours (another worker has
    it, it is finished, or its retry is not due yet).  One conditional UPDATE: one worker wins."""
    now = _naive_utc(now)
    me = worker_name()
    taken = (Delivery.update(status="running", claimed_by=me, claimed_at=now, attempts=Delivery.attempts + 1)
             .where((Delivery.id == delivery_id) & (Delivery.status == "pending")
                    & (Delivery.next_attempt_at.is_null() | (Delivery.next_attempt_at <= now)))
             .execute())
    if not taken:
        row = Delivery.get_or_none(Delivery.id == delivery_id)
        if row is None or row.status != "running" or not is_stale(row, now):
            return None
        taken = (Delivery.update(status="running", claimed_by=me, claimed_at=now, attempts=Delivery.attempts + 1)
                 .where((Delivery.id == delivery_id) & (Delivery.status == "running")
                        & (Delivery.claimed_by == row.claimed_by) & (Delivery.claimed_at == row.claimed_at))
                 .execute())
        if not taken:
            return None
        log.warning("订阅发送 %s：接手中断的运行（原 worker %s）", delivery_id, row.claimed_by)
        if row.report_run_id:  # the lost worker's run will never finish
            (ReportRun.update(status="failed", error_name=reaping.LOST,
                              error=reaping.message(row.claimed_by), finished_at=datetime.datetime.now())
             .where((ReportRun.id == row.report_run_id) & ReportRun.status.in_(["queued", "running"])).execute())
    return Delivery.get_by_id(delivery_id)


def _finish(row, status, error=None, expect="running", claimed_by=None, **values):
    """Move `row` from `expect` (still claimed by us) to `status`; False when it is no longer ours."""
    return bool(Delivery.update(status=status, error=error, **values)
                .where((Delivery.id == row.id) & (Delivery.status == expect)
                       & (Delivery.claimed_by == (claimed_by or worker_name())))
                .execute())


def deliver(delivery_id, config=None, now=None):
    """Deliver one occurrence if this worker wins its claim; returns the Delivery afterwards, or None.

    `config` gives the kernel DATABASE_URL and FIELD_KEY (a worker passes its own settings).
    """
    import delivery as mail
    from reporting import ReportError, runner

    now = _naive_utc(now)
    row = claim(delivery_id, now)
    if row is None:
        log.info("订阅发送 %s 不归本 worker（已被领取、已完成或未到重试时间），跳过", delivery_id)
        return None
    subscription = row.subscription
    if not subscription.enabled:  # switched off after this occurrence was planned
        _finish(row, "failed", "订阅已停用，本次未发送")
        return Delivery.get_by_id(row.id)
    if row.attempts > max_attempts():  # taken over again and again: the run keeps killing its worker
        error = f"worker 在运行中退出了 {row.attempts - 1} 次，不再重试（报表可能耗尽内存或超时）"
        if _finish(row, "failed", error):
            notify_admins(Delivery.get_by_id(row.id), error)
        return Delivery.get_by_id(row.id)
    stage = "report"
    try:
        run_as = row.run_as
        if run_as is None or not run_as.active:
            raise ReportError("运行报表的用户已被删除或停用，无法按其权限范围生成报表")
        run = runner.queue_run(subscription.report, row.params, user=run_as)
        Delivery.update(report_run=run.id).where(Delivery.id == row.id).execute()
        run = runner.execute_run(run.id, config=config or {})
        if run.status != "success":
            raise NotebookFailed(f"报表运行失败（{run.run_id}）：{run.error_name or ''} {run.error or ''}".strip())
        settings = mail.from_env()
        message = mail.compose(run, row.addresses, settings.sender, pdf=settings.attach_pdf)
        message["X-CRM-Delivery"] = f"{row.id}"  # which occurrence: lets a recipient's admin trace it
        if not _finish(row, "sending"):  # lost our claim (lease expired and another worker took it)
            log.warning("订阅发送 %s 已被其他 worker 接手，本 worker 不发送", row.id)
            return Delivery.get_by_id(row.id)
        stage = "smtp"
        result = mail.send(message, settings)
    except Exception as error:
        return _failed(row, error, expect="sending" if stage == "smtp" else "running", now=now)
    refused = "；".join(f"{addr}（{code} {reply}）" for addr, (code, reply) in result.refused.items())
    _finish(row, "sent", f"部分收件人被拒收：{refused}" if refused else None, expect="sending",
            sent_at=utcnow())
    log.info("订阅发送 %s 已发送给 %s", row.id, ", ".join(result.accepted))
    return Delivery.get_by_id(row.id)


def _failed(row, error, expect, now):
    """Retry later when the failure is temporary and attempts remain; else fail and tell the admins."""
    retryable = getattr(error, "retryable", None)
    if retryable is None:  # not one of ours: a database blip, a kernel that would not start …
        retryable = not isinstance(error, ValueError)
    text = str(error) or type(error).__name__
    attempts = Delivery.get_by_id(row.id).attempts
    if retryable and attempts < max_attempts():
        delay = retry_seconds() * 2 ** (attempts - 1)
        log.warning("订阅发送 %s 第 %s 次失败，%s 秒后重试：%s", row.id, attempts, delay, text)
        _finish(row, "pending", f"第 {attempts} 次尝试失败：{text}", expect=expect,
                next_attempt_at=now + datetime.timedelta(seconds=delay))
        return Delivery.get_by_id(row.id)
    final = f"第 {attempts} 次尝试失败，不再重试：{text}" if retryable else text
    log.error("订阅发送 %s 失败：%s", row.id, final)
    if _finish(row, "failed", final, expect=expect):
        notify_admins(Delivery.get_by_id(row.id), final)
    return Delivery.get_by_id(row.id)


def admin_addresses():
    users = (User.select().join(Role).where((Role.name == "admin") & (User.active == True)  # noqa: E712
                                           & User.email.is_null(False) & (fn.TRIM(User.email) != ""))
             .order_by(User.id))
    return [address for address in (user_address(user) for user in users) if address]


def notify_admins(row, reason):
    """Mail the admins that delivery `row` failed; True when the notice went out."""
    import html

    import delivery as mail

    to = admin_addresses()
    subscription = row.subscription
    if not to:
        log.error("订阅发送 %s 失败，但没有填写了邮箱的管理员可以通知", row.id)
        return False
    facts = [("订阅", f"{subscription.name}（#{subscription.id}，报表 {subscription.report}）"),
             ("计划时间", row.period), ("收件人", "、".join(row.addresses)), ("尝试次数", str(row.attempts)),
             ("原因", reason)]
    if row.report_run_id:
        facts.append(("报表运行", str(row.report_run_id)))
    text = "以下报表订阅未能发送，收件人没有收到任何内容：\n\n" + "\n".join(f"{k}：{v}" for k, v in facts)
    body = "".join(f"<tr><th style=\"text-align:left;padding-right:1em\">{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in facts)
    try:
        settings = mail.from_env()
        message = mail.build_message(settings.sender, to, f"【订阅发送失败】{subscription.name} {row.period}", text,
                                     f"<p>以下报表订阅未能发送，收件人没有收到任何内容：</p><table>{body}</table>")
        mail.send(message, settings)
    except Exception as error:  # the notice is best effort: the failure is on the row either way
        log.error("订阅发送 %s 的失败通知未能发出：%s", row.id, error)
        Delivery.update(error=Delivery.error.concat(f"（失败通知未能发出：{error}）")).where(
            Delivery.id == row.id).execute()
        return False
    return True
