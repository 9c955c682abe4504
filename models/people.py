"""Staff accounts and the access policy tables (roles, permissions, column rules).

The policy is data: the `access` package reads these rows, nothing else hard-codes roles.
"""
import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField
from werkzeug.security import check_password_hash, generate_password_hash

from . import sealed
from .base import BaseModel

ROW_SCOPES = (("own", "本人"), ("team", "本团队"), ("all", "全部"))
COLUMN_ACCESS = (("hidden", "隐藏"), ("masked", "脱敏"), ("readonly", "只读"), ("editable", "可编辑"))
ACTIONS = ("view", "create", "edit", "delete", "export")
# werkzeug hash method; tests lower the work factor so each test does not spend a second hashing.
PASSWORD_HASH_METHOD = "scrypt"


class Role(BaseModel):
    name = CharField(max_length=40, unique=True)  # stable key, e.g. "sales"
    label = CharField(max_length=60)  # shown to people, e.g. 销售代表
    row_scope = CharField(max_length=8, choices=ROW_SCOPES, default="own")
    description = TextField(null=True)
    # 需要两步验证: users of this role must confirm a TOTP code after the password (auth/, credentials/totp.py).
    require_totp = BooleanField(default=False)

    def __str__(self):
        return self.label or self.name


class RolePermission(BaseModel):
    role = ForeignKeyField(Role, backref="permissions", on_delete="CASCADE")
    model = CharField(max_length=40)  # view key, e.g. "customer"
    can_view = BooleanField(default=False)
    can_create = BooleanField(default=False)
    can_edit = BooleanField(default=False)
    can_delete = BooleanField(default=False)
    can_export = BooleanField(default=False)

    class Meta:
        indexes = ((("role", "model"), True),)

    def __str__(self):
        return f"{self.role_id}:{self.model}"


class ColumnRule(BaseModel):
    role = ForeignKeyField(Role, backref="column_rules", on_delete="CASCADE")
    model = CharField(max_length=40)
    column = CharField(max_length=60)
    access = CharField(max_length=10, choices=COLUMN_ACCESS)
    # 查看明文: a masked column's clear value may be shown for one record on demand (audited each time);
    # meaningless for other access levels, which the role screen refuses (admin/administration.py).
    reveal = BooleanField(default=False)

    class Meta:
        indexes = ((("role", "model", "column"), True),)


class User(BaseModel):
    username = CharField(max_length=60, unique=True)
    display_name = CharField(max_length=60)
    email = CharField(max_length=120, null=True)
    role = ForeignKeyField(Role, backref="users", on_delete="RESTRICT")
    manager = ForeignKeyField("self", null=True, backref="reports", on_delete="SET NULL")
    active = BooleanField(default=True)
    password_hash = CharField(max_length=255)
    must_change_password = BooleanField(default=True)
    created_at = DateTimeField(default=datetime.datetime.now)
    # Two-step login (credentials/totp.py): the TOTP secret, sealed like other sensitive columns; it is
    # written at enrolment and counts only once the user has confirmed a code (totp_enabled).
    totp_secret = sealed.SealedField(null=True)
    totp_enabled = BooleanField(default=False)
    totp_last_step = IntegerField(null=True)  # the 30-second step of the last code accepted: a code works once

    def __str__(self):
        return f"{self.display_name} ({self.username})"

    def set_password(self, password):
        self.password_hash = generate_password_hash(password, method=PASSWORD_HASH_METHOD)

    def check_password(self, password):
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    # The four members Flask-Login expects, defined here so models stay free of Flask.
    @property
    def is_active(self):
        return bool(self.active)

    @property
    def is_authenticated(self):
        return True

    @property
    def is_anonymous(self):
        return False

    def get_id(self):
        return str(self.id)

    def team_ids(self):
        """Ids of this user and everyone who reports to them."""
        return [self.id] + [u.id for u in User.select(User.id).where(User.manager == self.id)]


class Setting(BaseModel):
    """Small key/value store; holds the policy version that invalidates cached grants."""

    key = CharField(max_length=60, primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=datetime.datetime.now)


class LoginFailure(BaseModel):
    """One failed login: the attempted username (whether it exists or not) and the client address.

    credentials/lockout.py counts the rows of the last minutes per account and per address in one indexed
    query; a successful login deletes the account's rows, and rows older than the window are purged."""

    at = DateTimeField(index=True)
    username = CharField(max_length=60)
    ip = CharField(max_length=45, null=True)

    class Meta:
        indexes = ((("username", "at"), False), (("ip", "at"), False))


class AuditLog(BaseModel):
    at = DateTimeField(default=datetime.datetime.now, index=True)
    username = CharField(max_length=60, null=True, index=True)  # text, so the trail survives user deletion
    action = CharField(max_length=20, index=True)  # create / update / delete / export / login / ...
    model = CharField(max_length=40, null=True, index=True)
    record_id = CharField(max_length=40, null=True)
    changes = TextField(null=True)  # JSON: {"field": [old, new]} (sensitive values never written)
    ip = CharField(max_length=45, null=True)
    rows = IntegerField(null=True)  # exports: how many rows left the system
