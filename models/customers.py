"""Customers, the managed lists they draw from, and their status history."""
import datetime

from peewee import (
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    TextField,
    fn,
)

from . import sealed
from .base import BaseModel, save_numbered
from .people import User

CUSTOMER_TYPES = (("个人", "个人"), ("企业", "企业"))
STATUSES = (("潜在客户", "潜在客户"), ("意向客户", "意向客户"), ("成交客户", "成交客户"), ("流失客户", "流失客户"))
CHOICE_KINDS = (("industry", "所属行业"), ("region", "所属地区"), ("source", "客户来源"))


class Choice(BaseModel):
    """An entry of a managed list (industry, region, source) that admins edit."""

    kind = CharField(max_length=20, choices=CHOICE_KINDS)
    name = CharField(max_length=60)  # what customers store and people see, e.g. 华北
    code = CharField(max_length=10, null=True)  # abbreviation used in customer codes, e.g. HB
    # Other names people write for the entry (comma separated), e.g. IT,信息技术 for 互联网: forms and
    # imports store the entry's name instead (models.standardise.choice).
    aliases = CharField(max_length=255, null=True)
    position = IntegerField(default=0)

    class Meta:
        indexes = ((("kind", "name"), True),)

    def __str__(self):
        return self.name

    @classmethod
    def names(cls, kind):
        return [c.name for c in cls.select(cls.name).where(cls.kind == kind).order_by(cls.position, cls.name)]

    @classmethod
    def code_for(cls, kind, name):
        row = cls.get_or_none((cls.kind == kind) & (cls.name == name))
        return (row.code or "").upper() if row else ""


class Customer(BaseModel):
    code = CharField(max_length=32, unique=True)
    name = CharField(max_length=120, index=True)
    customer_type = CharField(max_length=4, choices=CUSTOMER_TYPES, default="企业")
    contact = CharField(max_length=60, null=True)
    mobile = CharField(max_length=20, null=True, index=True)
    phone = CharField(max_length=30, null=True)
    email = CharField(max_length=120, null=True, index=True)  # exact-match search target
    industry = CharField(max_length=60, null=True, index=True)
    region = CharField(max_length=60, null=True, index=True)
    source = CharField(max_length=60, null=True, index=True)
    address = CharField(max_length=255, null=True)
    employees = IntegerField(null=True)
    annual_revenue = DecimalField(max_digits=16, decimal_places=2, null=True)
    needs = TextField(null=True)
    notes = TextField(null=True)
    first_contact = DateField(null=True)
    owner = ForeignKeyField(User, null=True, backref="customers", on_delete="SET NULL", index=True)
    status = CharField(max_length=8, choices=STATUSES, default="潜在客户", index=True)
    id_number = sealed.SealedField(null=True)
    id_number_digest = CharField(max_length=64, null=True, index=True)
    bank_account = sealed.SealedField(null=True)
    bank_account_digest = CharField(max_length=64, null=True, index=True)
    created_at = DateTimeField(default=datetime.datetime.now, index=True)
    updated_at = DateTimeField(default=datetime.datetime.now, index=True)
    # Consent to processing (PIPL art. 14 / GDPR art. 7): what the customer agreed to, when, and when they
    # withdrew it; kept by staff on the customer form (privacy/, docs/privacy.md).
    consent_purpose = CharField(max_length=200, null=True)
    consent_at = DateField(null=True)
    consent_withdrawn_at = DateField(null=True)
    # Set once by privacy.erase: names, contacts and sensitive values were erased; the orders stay.
    anonymised_at = DateTimeField(null=True)

    SEALED = ("id_number", "bank_account")

    def __str__(self):
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        self.updated_at = datetime.datetime.now()
        for name in self.SEALED:
            value = getattr(self, name)
            setattr(self, name + "_digest", sealed.digest(value) if value else None)
        return save_numbered(
            self, "code", lambda: next_code(self.region, self.industry, self.first_contact),
            lambda: super(Customer, self).save(*args, **kwargs),
        )


def code_lead(region, industry):
    """"REGION-INDUSTRY-" of a customer code: the list entries' abbreviations, XX when there is none."""
    return f"{Choice.code_for('region', region) or 'XX'}-{Choice.code_for('industry', industry) or 'XX'}-"


def code_prefix(region, industry, first_contact=None):
    year = (first_contact or datetime.date.today()).year
    return f"{code_lead(region, industry)}{year}-"


def next_code(region, industry, first_contact=None):
    """REGION-INDUSTRY-YEAR-SEQ, SEQ one past the highest taken under the same prefix."""
    prefix = code_prefix(region, industry, first_contact)
    # Longest, then greatest code under the prefix holds the highest sequence number.
    last = (
        Customer.select(Customer.code)
        .where(Customer.code.startswith(prefix))
        .order_by(fn.LENGTH(Customer.code).desc(), Customer.code.desc())
        .limit(1)
        .scalar()
    )
    tail = last[len(prefix):] if last else ""
    highest = int(tail) if tail.isdigit() else 0
    return f"{prefix}{highest + 1:03d}"


class StatusChange(BaseModel):
    """The only way a customer's status changes; the customer's history lists these."""

    customer = ForeignKeyField(Customer, backref="status_changes", on_delete="CASCADE")
    from_status = CharField(max_length=8, null=True)
    to_status = CharField(max_length=8, choices=STATUSES)
    reason = TextField()
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    at = DateTimeField(default=datetime.datetime.now, index=True)


def change_status(customer, to_status, reason, user=None):
    """Record and apply a status change atomically. Returns the StatusChange."""
    if not (reason or "").strip():
        raise ValueError("请填写状态变更原因")
    if to_status not in dict(STATUSES):
        raise ValueError("客户状态无效")
    with Customer._meta.database.atomic():
        change = StatusChange.create(
            customer=customer, from_status=customer.status, to_status=to_status, reason=reason.strip(), user=user
        )
        customer.updated_at = datetime.datetime.now()
        Customer.update(status=to_status, updated_at=customer.updated_at).where(Customer.id == customer.id).execute()
        customer.status = to_status
    return change


__all__ = ["Choice", "Customer", "StatusChange", "change_status", "next_code", "fn"]
