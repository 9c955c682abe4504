"""The dashboard of one viewer for one period: the cards their grant allows, each source queried once.

    board = dashboard.build(user, grant, today=datetime.date(2026, 12, 7), period="12m")
    board["cards"][0]  # {"key": "new_customers", "title": "新增客户", "kind": "number", "data": {...}, ...}

The row scope comes from access (access.scope_query on Customer, as the customer list gets it): one
subquery of the customers the viewer may reach, which every source filters by.  The sources the allowed
cards need run one after another in this call, one SQL statement each, so a page or one JSON answer of
the period selector costs the same few statements whatever the number of cards.
"""
import datetime
from dataclasses import dataclass
from typing import Any

from access.scope import scope_query
from models import Customer

from .cards import CARDS
from .periods import PERIODS, period as make_period
from .sources import SOURCES


@dataclass(frozen=True)
class Context:
    today: datetime.date
    period: Any  # dashboard.periods.Period
    scoped: Any  # subquery of the customer ids in scope, None for every customer
    grant: Any = None  # None: the system
    language: str = "zh"

    def scope(self, field):
        """The condition keeping `field` (a customer id column) within the scope; None when unrestricted."""
        return None if self.scoped is None else field.in_(self.scoped)

    def customers(self):
        """A query of the customer ids in scope (every customer when unrestricted)."""
        return Customer.select(Customer.id) if self.scoped is None else self.scoped


def context(user, grant, today, period=None, language="zh"):
    everyone = Customer.select(Customer.id)
    scoped = None
    if user is not None:  # None: the system, every customer (benchmarks)
        scoped = scope_query(Customer, everyone, user, grant)
        if scoped is everyone:  # access left it alone: every customer
            scoped = None
    return Context(today, make_period(period, today), scoped, grant, language)


def cards_for(grant):
    """The cards `grant` may see, in the registry's order (grant None: the system, every card)."""
    return [card for card in CARDS.values() if grant is None or card.allowed(grant)]


def build(user, grant, today, period=None, language="zh"):
    """Every card the grant allows, with its data, for `period` ending `today`.

    Raises periods.UnknownPeriod (a Chinese message) for a period key not in the registry."""
    ctx = context(user, grant, today, period, language)
    cards = cards_for(grant)
    results = {}
    for name in dict.fromkeys(card.source for card in cards):  # each source once, in first-use order
        results[name] = SOURCES[name](ctx)
    return {
        "today": today.isoformat(),
        "period": {"key": ctx.period.key, "label": ctx.period.label[language], "start": ctx.period.start.isoformat(),
                   "end": ctx.period.end.isoformat()},
        "periods": [{"key": kind.key, "label": kind.label[language]} for kind in PERIODS.values()],
        "cards": [{"key": card.key, "title": card.title[language], "kind": card.kind, "width": card.width,
                   "money": card.money, "period": card.period, "empty_text": card.empty[language],
                   "link": card.link,
                   "data": card.shape(results[card.source], ctx)}
                  for card in cards],
    }
