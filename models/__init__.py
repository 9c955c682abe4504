"""Peewee models of the platform.  Never imports Flask: the CLI, jobs and notebooks use it too.

    import models
    models.bind("sqlite:///instance/crm.db")
    models.create_tables()
"""
from . import sealed, search
from .activity import CustomerTag, Feedback, FollowUp, Order, Tag
from .base import BaseModel, bind, db, is_sqlite
from .customers import Choice, Customer, StatusChange, change_status
from .people import AuditLog, ColumnRule, Role, RolePermission, Setting, User
from .imports import ImportBatch, ImportChange, ImportMapping, ImportRun
from .jobs import JobRun
from .merges import DuplicateScan, MergeRecord
from .quality import QualityRun
from .reports import ReportRun
from .subscriptions import Delivery, Subscription

ALL_MODELS = [
    Role,
    RolePermission,
    ColumnRule,
    User,
    Setting,
    AuditLog,
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
]


def create_tables():
    """Create every table, index and the customer search index (idempotent).

    Tables that exist already get the columns a newer version added (add_missing_columns),
    so `init-db` after an upgrade brings an existing database up to date.
    """
    with db.atomic():
        db.create_tables(ALL_MODELS, safe=True)
        add_missing_columns()
    search.install()


def add_missing_columns():
    """Add model fields absent from existing tables; new fields must be nullable or have a default."""
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db.obj)
    operations = []
    for model in ALL_MODELS:
        table = model._meta.table_name
        present = {column.name for column in db.get_columns(table)}
        for field in model._meta.sorted_fields:
            if field.column_name not in present:
                operations.append(migrator.add_column(table, field.column_name, field))
    if operations:
        migrate(*operations)


def drop_tables():
    if is_sqlite():
        db.execute_sql("DROP TABLE IF EXISTS customer_fts")
    db.drop_tables(ALL_MODELS, safe=True, cascade=not is_sqlite())


__all__ = [m.__name__ for m in ALL_MODELS] + [
    "BaseModel",
    "bind",
    "db",
    "is_sqlite",
    "create_tables",
    "drop_tables",
    "change_status",
    "sealed",
    "search",
]
