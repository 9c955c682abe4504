"""`run.py init-db` on a database made before a default column rule was added (客服专员's read-only 跟进人,
access.defaults.ADDITIONS): the rule is added, audited as the system's change of the role, and every rule and
permission an admin changed stays as it is; an addition the database has had is never given again, and a column
the admin had already set keeps the admin's level.  SQLite and PostgreSQL (DATABASE_URL)."""
import json

from click.testing import CliRunner
from flask.cli import ScriptInfo

import run
from access.defaults import ADDITIONS, ADDITIONS_KEY
from access.policy import bump_version, grant_for_role
from models import AuditLog, ColumnRule, Role, RolePermission, Setting


def invoke(app, *args):
    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def _rule(role, model, column):
    rule = ColumnRule.get_or_none((ColumnRule.role == role.id) & (ColumnRule.model == model)
                                  & (ColumnRule.column == column))
    return None if rule is None else rule.access


def _policy():
    rules = {(r.role.name, r.model, r.column): (r.access, r.reveal) for r in ColumnRule.select()}
    permissions = {(p.role.name, p.model): tuple(getattr(p, f"can_{a}") for a in ("view", "create", "edit", "delete",
                                                                               "export"))
                   for p in RolePermission.select()}
    return rules, permissions


def _system_entries():
    return [json.loads(e.changes) for e in AuditLog.select().where(AuditLog.username == "system")
            .order_by(AuditLog.id)]


def _as_before_the_rule(service):
    """The database as init-db left it before ADDITIONS existed: no count of additions, no 跟进人 rule."""
    Setting.delete().where(Setting.key == ADDITIONS_KEY).execute()
    ColumnRule.delete().where((ColumnRule.role == service.id) & (ColumnRule.model == "followup")
                              & (ColumnRule.column == "user")).execute()


def test_an_old_database_gets_the_rule_and_keeps_what_the_admin_changed(app):
    with app.app_context():
        service, manager = Role.get(Role.name == "service"), Role.get(Role.name == "manager")
        # A new database starts with the rule and counts every addition as had: nothing to upgrade.
        assert _rule(service, "followup", "user") == "readonly"
        assert Setting.get_by_id(ADDITIONS_KEY).value == str(ADDITIONS[-1][0]) and not _system_entries()

        _as_before_the_rule(service)
        # The admin's changes since: 客服专员 may edit mobiles, a manager no longer sees ID numbers, 客服专员's
        # follow-up text is read-only, and 客服专员 may export orders.
        ColumnRule.delete().where((ColumnRule.role == service.id) & (ColumnRule.model == "customer")
                                  & (ColumnRule.column == "mobile")).execute()
        ColumnRule.update(access="hidden").where((ColumnRule.role == manager.id) & (ColumnRule.column == "id_number")
                                                 ).execute()
        ColumnRule.create(role=service, model="followup", column="content", access="readonly")
        RolePermission.update(can_export=True).where((RolePermission.role == service.id)
                                                     & (RolePermission.model == "order")).execute()
        bump_version()  # the edits above went around the role screen, which bumps it
        assert grant_for_role("service").writable("followup", "user")
        rules_before, permissions_before = _policy()

    assert invoke(app, "init-db").exit_code == 0

    with app.app_context():
        assert _rule(service, "followup", "user") == "readonly"
        assert not grant_for_role("service").writable("followup", "user")
        assert grant_for_role("service").visible("followup", "user")  # read-only, not hidden
        rules_after, permissions_after = _policy()
        assert rules_after == {**rules_before, ("service", "followup", "user"): ("readonly", False)}
        assert permissions_after == permissions_before
        assert _system_entries() == [{"column.followup.user": [None, "readonly"]}]
        entry = AuditLog.get(AuditLog.username == "system")
        assert (entry.action, entry.model, entry.record_id) == ("update", "role", str(service.id))
        assert Setting.get_by_id(ADDITIONS_KEY).value == str(ADDITIONS[-1][0])

        # Once had, an addition is the admin's: made editable again (no rule), init-db leaves it so.
        ColumnRule.delete().where((ColumnRule.role == service.id) & (ColumnRule.model == "followup")
                                  & (ColumnRule.column == "user")).execute()

    assert invoke(app, "init-db").exit_code == 0

    with app.app_context():
        assert _rule(service, "followup", "user") is None
        assert len(_system_entries()) == 1


def test_an_old_database_where_the_admin_set_the_column_keeps_the_admins_level(app):
    with app.app_context():
        service = Role.get(Role.name == "service")
        _as_before_the_rule(service)
        ColumnRule.create(role=service, model="followup", column="user", access="hidden")

    assert invoke(app, "init-db").exit_code == 0

    with app.app_context():
        assert _rule(service, "followup", "user") == "hidden"
        assert not _system_entries()
        assert Setting.get_by_id(ADDITIONS_KEY).value == str(ADDITIONS[-1][0])
