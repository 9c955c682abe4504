"""Peewee models of the platform.  Never imports Flask: the CLI, jobs and notebooks use it too.

    import models
    models.bind("sqlite:///instance/crm.db")
    models.create_tables()
"""
from peewee import SQL, ForeignKeyField

from . import audit, sealed, search
from .audit import AuditPermit
from .activity import CustomerTag, Feedback, FollowUp, Order, Tag
from .base import BaseModel, bind, db, is_sqlite
from .customers import Choice, Customer, StatusChange, change_status
from .people import AuditLog, ColumnRule, LoginFailure, Role, RolePermission, Setting, User
from .imports import ImportBatch, ImportChange, ImportMapping, ImportRun
from .jobs import JobRun
from .merges import DuplicateScan, MergeRecord
from .pipeline import PipelineEvent, PipelineTransition
from .quality import QualityRun
from .reports import ReportRun
from .saved_reports import SavedReport
from .rollups import ROLLUPS, CustomerMix, CustomersNew, DashboardRefresh, FunnelCohort, RuleTagCount, SalesDay, StageCount, TopCustomer, TopValue
from .rules import TagRule, TagRuleEpisode
from .subscriptions import Delivery, Subscription
from .tasks import ReminderRule, Task, TaskDigest
from .tokens import ApiRequestWindow, ApiToken
from .values import CustomerValue, ValueRefresh

ALL_MODELS = [
    Role,
    RolePermission,
    ColumnRule,
    User,
    Setting,
    AuditLog,
    AuditPermit,
    LoginFailure,
    Choice,
    Customer,
    StatusChange,
    FollowUp,
    Order,
    Tag,
    CustomerTag,
    Feedback,
    ReportRun,
    JobRun,
    Subscription,
    Delivery,
    ImportBatch,
    ImportChange,
    ImportMapping,
    ImportRun,
    QualityRun,
    MergeRecord,
    DuplicateScan,
    TagRule,
    TagRuleEpisode,
    PipelineTransition,
    PipelineEvent,
    CustomerValue,
    ValueRefresh,
    ReminderRule,
    Task,
    TaskDigest,
    DashboardRefresh,
    ApiToken,
    ApiRequestWindow,
    SavedReport,
    *ROLLUPS,
]


def create_tables():
    """Create every table, index and the customer search index (idempotent).

    Tables that exist already get the columns a newer version added (add_missing_columns),
    so `init-db` after an upgrade brings an existing database up to date.
    """
    with db.atomic():
        db.create_tables(ALL_MODELS, safe=True)
        add_missing_columns()
        drop_retired_indexes()
    search.install()
    audit.install()  # the audit log refuses UPDATE and DELETE (models/audit.py)


def add_missing_columns():
    """Add model fields absent from existing tables; new fields must be nullable or have a default.

    A model may define `after_column_added(field_name)` (a classmethod) to fill a new column of its
    existing rows from other data, e.g. Tag.source from the sources of the tag's customer rows.
    """
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db.obj)
    operations, added = [], []
    for model in ALL_MODELS:
        table = model._meta.table_name
        present = {column.name for column in db.get_columns(table)}
        for field in model._meta.sorted_fields:
            if field.column_name not in present:
                in_place = not field.null and field.default is not None and not isinstance(field, ForeignKeyField)
                if is_sqlite() and in_place:
                    operations.append(migrator.add_column(table, field.column_name, _with_default(field),
                                                          allow_not_null=True))
                else:
                    operations.append(migrator.add_column(table, field.column_name, field))
                added.append((model, field.name))
    if operations:
        migrate(*operations)
        for model, name in added:
            hook = getattr(model, "after_column_added", None)
            if hook is not None:
                hook(name)


# Indexes an earlier version created that the models no longer declare: dropped from existing databases by
# create_tables (init-db after an upgrade).  Each one only cost writes; the reason is at the field.
RETIRED_INDEXES = (
    "customer_tag_customer_id",  # CustomerTag.customer: the unique (customer, tag) key serves it
    "tag_rule_episode_removed_at",  # TagRuleEpisode.removed_at: nearly all NULL, read through other keys
    "orders_customer_id_ordered_at",  # Order: (customer, ordered_at, amount) answers all it did and more
)


def drop_retired_indexes():
    for name in RETIRED_INDEXES:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")


def _with_default(field):
    """A copy of a NOT NULL field whose column definition carries its default, so SQLite adds the column in
    place: ALTER TABLE t ADD COLUMN c ... NOT NULL DEFAULT 'x'.

    peewee's add_column would add it nullable and then rebuild the table to make it NOT NULL; the rebuild
    drops the old table, and with foreign keys on that deletes (ON DELETE CASCADE) the rows of every table
    that references it: adding Tag.source that way emptied customer_tag.
    """
    value = field.db_value(field.default() if callable(field.default) else field.default)
    if isinstance(value, bool):
        literal = str(int(value))
    elif isinstance(value, (int, float)):
        literal = repr(value)
    else:
        literal = "'" + str(value).replace("'", "''") + "'"
    copy = field.clone()
    copy.constraints = list(field.constraints or []) + [SQL(f"DEFAULT {literal}")]
    return copy


def drop_tables():
    if is_sqlite():
        db.execute_sql("DROP TABLE IF EXISTS customer_fts")
        db.execute_sql(f"DROP TABLE IF EXISTS {search.BULK}")
    db.drop_tables(ALL_MODELS, safe=True, cascade=not is_sqlite())


__all__ = [m.__name__ for m in ALL_MODELS] + [
    "BaseModel",
    "bind",
    "db",
    "is_sqlite",
    "create_tables",
    "drop_tables",
    "change_status",
    "audit",
    "sealed",
    "search",
]
