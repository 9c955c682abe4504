"""The policy a new installation starts with.  Admins change it in the admin afterwards.

Read as a table: role -> label, row scope, permissions per model, column rules.
"""
import json

from models import AuditLog, ColumnRule, Role, RolePermission, Setting, db

from .policy import bump_version

RECORDS = ("customer", "followup", "order", "feedback", "statuschange", "customertag")
REFERENCE = ("tag", "choice")
ANALYSIS = ("reportrun", "subscription")
ADMINISTRATION = ("user", "role", "auditlog")
ALL_MODELS = RECORDS + REFERENCE + ANALYSIS + ADMINISTRATION
# Screens over several models rather than one model's records; their key gates a plain view.
# quality (数据质量): view = counts and drill-down in one's row scope; edit = batch fix; delete = batch
# delete (each also needs that action on the records' own model).
# duplicates (重复客户): view = the groups among one's row scope; edit = merge and undo a merge.
# tagging (批量标签, on the customer list): view = tags shown on the list and the tag filters (any of /
# all of / none of); create = batch tag; delete = batch untag, on selected rows or on every row matching
# the list's search and filters, within one's row scope.  Each write also needs the same action on
# `customertag`, and the tag column of `customertag` in clear (view) or editable (create, delete).
# tagrule (标签规则): view = the rules and their preview (customers counted and listed in one's row scope);
# create / edit / delete = new rules, changes (condition, tag, 启用/停用), deleting rules.
# task (我的任务): view = the open tasks of the customers in one's row scope (a rep's own, a manager's team's),
# and the daily digest mail of them; done by recording the follow-up, which needs `followup` create;
# edit = 完成 / 重新打开 a task by hand (with a note), within the same row scope.
# reminderrule (提醒规则): view = the rules; create / edit / delete = new rules, changes, 启用/停用, deleting.
# funnel (销售漏斗): view = the funnel of the customers in one's row scope (also needs `customer` view).
# pipelinerule (状态流转): view = the automatic status transitions; create / edit / delete = changing them.
TOOLS = ("quality", "duplicates", "tagging", "tagrule", "task", "reminderrule", "funnel", "pipelinerule")
# importrun (数据导入): view = the imports in one's row scope (by who imported); create = run the import
# wizard.  What an import may write is decided by the same grant on customers, orders, follow-ups
# and users, as for every other way in.
INTAKE = ("importrun",)
# customervalue (客户价值分析表): view = the value table's rows in one's row scope; export = its XLSX/CSV.  The
# rows are computed (valuation.refresh), never edited.  The money columns (annual_spend 年度消费额, ltv) follow
# column rules like any column: hidden for 客服专员.
VALUES = ("customervalue",)
# personaldata (个人数据请求, privacy/): export = 导出个人数据 (everything held about one customer, JSON/XLSX, within one's
# row scope and column rules); delete = 匿名化 (erase names, contacts and sensitive values for good, orders kept).
# Only 系统管理员 by default; granting it to another role is a policy edit like any other.
PRIVACY = ("personaldata",)
# apitoken (API令牌, the REST API's tokens, api/): view = the tokens of the users in one's row scope (their owner's
# scope, as report runs); create = issue a token for such a user (shown once); delete = revoke one.  A token
# acts as its user: what it reaches is that user's grant, never more.  Only 系统管理员 by default.
API = ("apitoken",)
# customreport (自定义报表): view = the builder and its reports (also needs `customer` view); create = save a report;
# delete = delete one's own; export = the result as CSV.  Which measures: reportbuilder.policy, from the column rules.
BUILDER = ("customreport",)
POLICY_KEYS = ALL_MODELS + TOOLS + INTAKE + VALUES + PRIVACY + API + BUILDER

FULL = "view create edit delete export"
SENSITIVE_MASKED = {("customer", "id_number"): "masked", ("customer", "bank_account"): "masked"}

ROLES = {
    "admin": {
        "label": "系统管理员",
        "row_scope": "all",
        "permissions": {m: FULL for m in POLICY_KEYS},
        "columns": {},
    },
    "manager": {
        "label": "销售经理",
        "row_scope": "team",
        # create = run reports (立即运行, re-run); export = download the executed notebook
        "permissions": {**{m: FULL for m in RECORDS}, "tag": "view", "choice": "view",
                        "reportrun": "view create export",
                        # subscriptions: edit also covers 立即发送 and 暂停/恢复; view covers 预览邮件
                        "subscription": "view create edit delete",
                        "quality": "view edit delete", "duplicates": "view edit", "importrun": "view create",
                        "tagging": "view create delete", "tagrule": "view", "task": "view edit", "reminderrule": "view",
                        "funnel": "view", "pipelinerule": "view",
                        "customervalue": "view export", "customreport": "view create delete export"},
        "columns": dict(SENSITIVE_MASKED),
    },
    "sales": {
        "label": "销售代表",
        "row_scope": "own",
        # customertag delete: a rep takes back the manual tags of their own customers (rule tags stay)
        "permissions": {**{m: "view create edit" for m in RECORDS}, "customertag": "view create edit delete",
                        "tag": "view", "choice": "view", "reportrun": "view create", "subscription": "view create edit",
                        "quality": "view", "duplicates": "view", "importrun": "view create",
                        "tagging": "view create delete", "task": "view edit", "customervalue": "view", "funnel": "view",
                        "customreport": "view create delete"},
        "columns": {**SENSITIVE_MASKED, ("customer", "owner"): "readonly"},
    },
    "service": {
        "label": "客服专员",
        "row_scope": "all",
        "permissions": {
            "customer": "view",
            "followup": "view create",
            "feedback": "view create edit",
            "order": "view",
            "statuschange": "view",
            "customertag": "view",
            "tag": "view",
            "choice": "view",
            "tagging": "view",  # filters by tags; tags nothing
            "customervalue": "view",  # tiers and order counts; the money columns are hidden below
            "customreport": "view",  # counts only: the builder offers no measure on the hidden money columns
        },
        "columns": {
            **SENSITIVE_MASKED,
            ("customer", "mobile"): "masked",
            ("customer", "annual_revenue"): "hidden",
            ("order", "amount"): "hidden",
            ("customervalue", "annual_spend"): "hidden",
            ("customervalue", "ltv"): "hidden",
            # 跟进人 is whoever records the follow-up: with every customer in scope, no picking other users
            ("followup", "user"): "readonly",
        },
    },
}


# Column rules added to the defaults after installations had the key, oldest first:
# (number, role, key, column, the level before: None = editable, no rule stored).  The new level is ROLES'.
# A database records the number of the last one it has had (Setting ADDITIONS_KEY); init-db gives an existing
# database each later one where that role's rule is still the level before (the admin left it), and leaves a
# rule an admin set to anything else.  A new database's roles start from ROLES and have had them all.
# Additions that widen what a role may do are left to the admins (the role grid), never given by an upgrade.
ADDITIONS = (
    # 客服专员 sees every customer: whoever records a follow-up is its 跟进人, not a pick among all users
    (1, "service", "followup", "user", None),
)
ADDITIONS_KEY = "policy_defaults"


def seed_policy():
    """Create the default roles, permissions and column rules where they are missing.

    On an existing database the roles are the admins' now and are left alone, with two
    exceptions: a model no role has any permission for yet was added by an upgrade (the
    report runs, say), and the default roles get their defaults for it; and a column rule of
    ADDITIONS the database has not had yet is added where the admin left that column as it was.
    Returns the additions applied, as [(role, key, column, level)].
    """
    with db.atomic():
        existing = Role.select().exists()
        had = _additions_had() if existing else ADDITIONS[-1][0]
        known = {p.model for p in RolePermission.select(RolePermission.model).distinct()}
        for name, spec in ROLES.items():
            role, created = Role.get_or_create(
                name=name, defaults={"label": spec["label"], "row_scope": spec["row_scope"]}
            )
            new = (lambda model: True) if created else (lambda model: model not in known)
            for model, actions in spec["permissions"].items():
                if new(model):
                    flags = {"can_" + a: True for a in actions.split()}
                    RolePermission.create(role=role, model=model, **flags)
            for (model, column), access in spec["columns"].items():
                if new(model):
                    ColumnRule.create(role=role, model=model, column=column, access=access)
        applied = _add_missing(had)
        Setting.insert(key=ADDITIONS_KEY, value=str(ADDITIONS[-1][0])).on_conflict(
            conflict_target=[Setting.key], update={Setting.value: str(ADDITIONS[-1][0])}).execute()
    bump_version()
    return applied


def _additions_had():
    """The number of the last addition this database has had; 0 before additions were counted."""
    row = Setting.get_or_none(Setting.key == ADDITIONS_KEY)
    try:
        return int(row.value) if row else 0
    except ValueError:
        return 0


def _add_missing(had):
    """Apply the additions after number `had`, each audited as a change of its role by the system."""
    applied = []
    for number, role_name, model, column, before in ADDITIONS:
        role = Role.get_or_none(Role.name == role_name)
        if number <= had or role is None:
            continue
        level = ROLES[role_name]["columns"][(model, column)]
        rule = ColumnRule.get_or_none((ColumnRule.role == role.id) & (ColumnRule.model == model)
                                      & (ColumnRule.column == column))
        if (rule.access if rule else None) != before:
            continue  # the admin's choice (or already the default): left as it is
        if rule is None:
            ColumnRule.create(role=role, model=model, column=column, access=level)
        else:
            ColumnRule.update(access=level).where(ColumnRule.id == rule.id).execute()
        AuditLog.create(username="system", action="update", model="role", record_id=str(role.id),
                        changes=json.dumps({f"column.{model}.{column}": [before, level]}, ensure_ascii=False))
        applied.append((role_name, model, column, level))
    return applied
