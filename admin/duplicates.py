"""重复客户: the groups of the duplicate scan among the caller's customers, with reason, score and links to
the records; a merge form (pick the survivor, then field by field which value to keep, conflicting values
side by side); recent merges with 撤销合并 (undo).

The work is dedup's (scan, merge, undo); this view gates it on the `duplicates` policy key (view: the
groups in one's row scope; edit: merge and undo) and passes the caller's scope, so nothing outside it is
listed, merged or restored.  Values are shown as the customer screen shows them to the role: masked
columns masked, hidden columns absent (their value stays the survivor's, or fills its blank).
"""
from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_login import current_user

import access
import dedup
import jobs
from dedup.tasks import JOB
from dedup.merge import CHILDREN, PICKABLE, MergeError, conflicts, default_picks, load, merge, undo
from i18n import current_language
from models import Customer, DuplicateScan, JobRun, MergeRecord

from .labels import labels_for
from .secured import PolicyView, TokenForm, current_grant

POLICY_KEY = "duplicates"
ON_DEMAND = 20_000  # customers in scope up to which the screen scans on each load; beyond: the last full scan
RECENT = 20  # merges listed under the groups
SHOWN = 200  # groups listed at most

TEXT = {
    "zh": {"title": "重复客户", "intro": "扫描您数据范围内的客户，列出可能重复的客户组：相同手机号码、邮箱或身份证号；"
                                     "繁简、后缀和城市归一后相同的公司名称；名称相似且联系人、地址、电话或企业邮箱域名相同。",
           "none": "没有发现可能重复的客户。", "customers": "客户", "reason": "原因", "score": "可信度",
           "merge": "合并…", "groups": "共 {count} 组", "more": "仅显示前 {shown} 组（共 {count} 组），可用 run.py duplicates 查看全部。",
           "min_score": "最低可信度", "filter": "筛选", "recent": "最近的合并", "survivor": "保留的客户",
           "merged": "被合并的客户", "at": "时间", "user": "操作人", "undo": "撤销合并", "undone": "已撤销",
           "form_title": "合并客户", "form_intro": "选择保留的客户（保留其客户编号和状态），再逐项选择要保留的值。"
                                                  "未采用的值会写入保留客户的备注；跟进记录、订单、反馈、标签和状态历史全部转到保留的客户。"
                                                  "被合并的客户可在本页“最近的合并”中撤销恢复。",
           "field": "字段", "keep": "保留此客户", "do_merge": "合并", "cancel": "返回", "conflict": "值不同",
           "done": "已合并 {merged} → {survivor}（合并记录 {id}）。如有误，可在“最近的合并”中撤销。",
           "undo_done": "已撤销合并记录 {id}：{merged} 已恢复。", "expired": "表单已过期，请刷新页面后重试。",
           "pick_two": "请至少选择两个客户进行合并。", "related": "跟进 {followup} · 订单 {order} · 反馈 {feedback} · 标签 {customertag}",
           "last_scan": "以下为 {at} 的全量扫描结果（{customers} 个客户，用时 {duration:.1f} 秒）；之后合并掉的客户已不再列出。",
           "no_scan": "客户较多，本页不再每次打开都扫描：尚无扫描结果，请点击“重新扫描”（后台任务，完成后刷新本页）。",
           "scoped": "（按您的数据范围筛选：仅列出组内属于您范围的客户，至少两位。）",
           "rescan": "重新扫描", "queued": "已加入后台队列，扫描完成后刷新本页即可看到新结果。",
           "pending": "扫描任务已在队列中或正在运行（{at} 提交）。"},
    "en": {"title": "Duplicates", "intro": "Groups of probable duplicates among your customers: same mobile, e-mail or ID "
                                       "number; company names equal after traditional/simplified, suffix and city folding; "
                                       "similar names sharing a contact, address, landline or company mail domain.",
           "none": "No probable duplicates found.", "customers": "Customers", "reason": "Reason", "score": "Score",
           "merge": "Merge…", "groups": "{count} groups", "more": "Showing the first {shown} of {count} groups; "
                                                                 "run.py duplicates lists all.",
           "min_score": "Minimum score", "filter": "Filter", "recent": "Recent merges", "survivor": "Survivor",
           "merged": "Merged away", "at": "Time", "user": "By", "undo": "Undo merge", "undone": "undone",
           "form_title": "Merge customers", "form_intro": "Pick the customer to keep (its code and status stay), then "
                                                         "the value to keep for each field. Values not kept are written "
                                                         "into the survivor's notes; follow-ups, orders, feedback, tags "
                                                         "and status history move to the survivor. A merge can be undone "
                                                         "under Recent merges.",
           "field": "Field", "keep": "Keep this customer", "do_merge": "Merge", "cancel": "Back", "conflict": "differs",
           "done": "Merged {merged} → {survivor} (merge {id}). Undo it under Recent merges if it was wrong.",
           "undo_done": "Merge {id} undone: {merged} restored.", "expired": "The form has expired; reload and retry.",
           "pick_two": "Pick at least two customers to merge.", "related": "follow-ups {followup} · orders {order} · "
                                                                           "feedback {feedback} · tags {customertag}",
           "last_scan": "The full scan of {at} ({customers} customers, {duration:.1f} s); customers merged away since "
                        "are left out.",
           "no_scan": "Too many customers to scan on every page load, and no scan yet: press Rescan (a background job) "
                      "and reload this page when it is done.",
           "scoped": " (Filtered to your scope: only your customers of each group, at least two.)",
           "rescan": "Rescan", "queued": "Queued; reload this page when the scan is done.",
           "pending": "A scan is queued or running (since {at})."},
}


def _scope():
    return access.owner_ids(current_user, current_grant())


def _ids(text):
    return [int(part) for part in (text or "").split(",") if part.strip().isdigit()]


class _Stored:
    """A group of a stored scan, shaped like dedup.Group for the template."""

    def __init__(self, ids, codes, names, reason, score, reasons):
        self.ids, self.codes, self.names, self.reason, self.score = ids, codes, names, reason, score
        self.reasons = [tuple(pair) for pair in reasons]


def _stored_groups(last, scope, min_score):
    """The groups of scan `last` at or above `min_score` (a group's score is its weakest link), without the
    customers merged away (or deleted) since, and in a row scope only the in-scope customers of each group."""
    import json

    groups = [g for g in json.loads(last.groups) if g["score"] >= min_score - 1e-9]
    ids = [i for g in groups for i in g["ids"]]
    alive = set()
    for start in range(0, len(ids), 5000):
        query = Customer.select(Customer.id).where(Customer.id.in_(ids[start:start + 5000]))
        if scope is not None:
            query = query.where(Customer.owner.in_(scope))
        alive.update(row[0] for row in query.tuples())
    out = []
    for g in groups:
        keep = [x for x, i in enumerate(g["ids"]) if i in alive]
        if len(keep) > 1:
            out.append(_Stored([g["ids"][x] for x in keep], [g["codes"][x] for x in keep],
                               [g["names"][x] for x in keep], g["reason"], g["score"], g["reasons"]))
    return out


class DuplicatesView(PolicyView):
    policy_key = POLICY_KEY

    def _can_merge(self):
        return current_grant().can(POLICY_KEY, "edit")

    @expose("/")
    def index(self):
        text = TEXT[current_language()]
        min_score = max(0.0, min(1.0, request.args.get("min_score", 0.0, type=float)))
        scope = _scope()
        in_scope = Customer.select()
        if scope is not None:
            in_scope = in_scope.where(Customer.owner.in_(scope))
        last, pending = None, None
        if in_scope.count() <= ON_DEMAND:
            groups = dedup.scan(owner_ids=scope, min_score=min_score)
        else:  # a large scope: the last full scan (a job), never a scan per page load
            last = DuplicateScan.select().order_by(DuplicateScan.id.desc()).first()
            groups = _stored_groups(last, scope, min_score) if last else []
            pending = (JobRun.select().where((JobRun.job == JOB) & (JobRun.status.in_(("queued", "running"))))
                       .order_by(JobRun.id.desc()).first())
        recent = MergeRecord.select().order_by(MergeRecord.id.desc())
        if scope is not None:  # merges whose survivor is in the caller's scope
            recent = recent.where(MergeRecord.survivor_id.in_(
                Customer.select(Customer.id).where(Customer.owner.in_(scope))))
        can_merge = self._can_merge()
        return self.render("admin/duplicates/index.html", text=text, groups=groups[:SHOWN], count=len(groups),
                           shown=SHOWN, min_score=min_score, recent=list(recent.limit(RECENT)), can_merge=can_merge,
                           form=TokenForm() if can_merge else None, stored=in_scope.count() > ON_DEMAND, last=last,
                           pending=pending, scoped=scope is not None, rescan_form=TokenForm())

    @expose("/rescan/", methods=("POST",))
    def rescan_view(self):
        """Queue the full scan (the duplicate-scan job) for a worker."""
        text = TEXT[current_language()]
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
        else:
            jobs.run_now(JOB, username=current_user.username)
            flash(text["queued"], "success")
        return redirect(self.get_url(".index"))

    def _rows(self, customers):
        """[(field, label, [(customer id, shown value)], differs)] for the fields the role may see."""
        grant = current_grant()
        labels = labels_for("customer", current_language())
        differing = conflicts(customers)
        rows = []
        for field in PICKABLE:
            level = grant.access("customer", field)
            if level == "hidden":
                continue
            values = []
            for customer in customers:
                value = getattr(customer, field)
                if field == "owner":
                    value = customer.owner.display_name if customer.owner_id else None
                shown = access.mask(value) if level == "masked" and value else value
                values.append((customer.id, "" if shown is None else shown))
            rows.append((field, labels.get(field, field), values, field in differing))
        return rows

    @expose("/merge/", methods=("GET", "POST"))
    def merge_view(self):
        if not self._can_merge():
            abort(403)
        text = TEXT[current_language()]
        ids = _ids(request.values.get("ids"))
        if len(set(ids)) < 2:
            flash(text["pick_two"], "error")
            return redirect(self.get_url(".index"))
        try:
            customers = load(ids, _scope())
        except MergeError:
            abort(404)  # out of scope looks exactly like missing
        if request.method == "POST":
            if not TokenForm(request.form).validate():
                flash(text["expired"], "error")
                return redirect(self.get_url(".merge_view", ids=",".join(map(str, ids))))
            survivor = request.form.get("survivor", type=int)
            picks = {field: request.form.get("pick_" + field, type=int) for field in PICKABLE
                     if request.form.get("pick_" + field)}
            hidden = [f for f in picks if current_grant().access("customer", f) == "hidden"]
            for field in hidden:  # a crafted POST cannot pick what the role cannot see
                picks.pop(field)
            try:
                record = merge(survivor, [i for i in ids if i != survivor], picks, username=current_user.username,
                               owner_ids=_scope(), ip=request.remote_addr)
            except MergeError as error:
                flash(str(error), "error")
                return redirect(self.get_url(".merge_view", ids=",".join(map(str, ids))))
            flash(text["done"].format(merged=record.merged_codes.replace(",", "、"), survivor=record.survivor_code,
                                      id=record.id), "success")
            return redirect(self.get_url(".index"))
        picks = default_picks(customers)
        related = {c.id: {key: model.select().where(model.customer == c.id).count()
                          for key, model in CHILDREN.items()}
                   for c in customers}
        return self.render("admin/duplicates/merge.html", text=text, customers=customers, rows=self._rows(customers),
                           picks=picks, ids=",".join(map(str, ids)), related=related, form=TokenForm())

    @expose("/undo/", methods=("POST",))
    def undo_view(self):
        if not self._can_merge():
            abort(403)
        text = TEXT[current_language()]
        if not TokenForm(request.form).validate():
            flash(text["expired"], "error")
            return redirect(self.get_url(".index"))
        try:
            record = undo(request.form.get("merge", type=int), username=current_user.username, owner_ids=_scope(),
                          ip=request.remote_addr)
        except MergeError as error:
            flash(str(error), "error")
        else:
            flash(text["undo_done"].format(id=record.id, merged=record.merged_codes.replace(",", "、")), "success")
        return redirect(self.get_url(".index"))
