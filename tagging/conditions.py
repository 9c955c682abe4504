"""Conditions on Customer.id for "has tags": any of, all of, none of, and more tags than a number.

Each is `Customer.id IN / NOT IN (a subquery over customertag)`, answered from the customertag
indexes (tag_id; customer_id + tag_id), so the customer list's filters stay one query.

    Customer.select().where(conditions.all_of([vip, price]))
"""
from peewee import fn

from models import Customer, CustomerTag


def _carrying(tag_ids):
    return CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag.in_(list(tag_ids)))


def any_of(tag_ids):
    """Customers that carry at least one of the tags."""
    return Customer.id.in_(_carrying(tag_ids))


def all_of(tag_ids):
    """Customers that carry every one of the tags (a customer carries a tag at most once)."""
    tag_ids = sorted(set(tag_ids))
    return Customer.id.in_(_carrying(tag_ids).group_by(CustomerTag.customer)
                           .having(fn.COUNT(CustomerTag.id) == len(tag_ids)))


def none_of(tag_ids):
    """Customers that carry none of the tags."""
    return Customer.id.not_in(_carrying(tag_ids))


def more_than(count):
    """Customers that carry more than `count` tags."""
    return Customer.id.in_(CustomerTag.select(CustomerTag.customer).group_by(CustomerTag.customer)
                           .having(fn.COUNT(CustomerTag.id) > int(count)))
