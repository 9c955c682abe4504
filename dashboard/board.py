"""The dashboard of one viewer for one period: the cards their grant allows, each source queried once.

    board = dashboard.build(user, grant, today=datetime.date(2026, 12, 7), period="12m")
    board["cards"][0]  # {"key": "new_customers", "title": "新增客户", "kind": "number", "data": {...}, ...}

The row scope comes from access: the owners whose customers the viewer may reach (access.owner_ids; None for
everyone), which the roll-up sources read as `owner_id IN (...)`, and the subquery of those customers
(access.customers_of) for the live ones.  The sources the allowed cards need run one after another in this call,
a statement or two each over small tables, so a page or one JSON answer of the period selector costs the same few
statements whatever the number of cards, customers and orders.  board["freshness"] says when the roll-ups were
computed (数据更新于 …); before their first refresh `build` computes them at once for a small database and queues
the job for a large one (dashboard.tasks).
"""
import datetime
from dataclasses import dataclass
from typing import Any

from access.scope import customers_of, owner_ids
from models import Customer

from . import rollup
from .cards import CARDS
from .periods import PERIODS, period as make_period
from .sources import SOURCES

FIRST_VIEW_LIMIT = 50_000  # customers (by the highest id): up to this many, the first view computes the roll-ups


@dataclass(frozen=True)
class Context:
    today: datetime.date
    period: Any  # dashboard.periods.Period
    scoped: Any  # subquery of the customer ids in scope, None for every customer
    grant: Any = None  # None: the system
    language: str = "zh"
    owners: Any = None  # ids of the owners whose customers are in scope, None for every customer
    refresh: Any = None  # the roll-ups' last refresh (models.DashboardRefresh), None: never computed

    def scope(self, field):
        """The condition keeping `field` (a customer id column) within the scope; None when unrestricted."""
        return None if self.scoped is None else field.in_(self.scoped)

    def customers(self):
        """A query of the customer ids in scope (every customer when unrestricted)."""
        return Customer.select(Customer.id) if self.scoped is None else self.scoped


def context(user, grant, today, period=None, language="zh", refresh=None):
    owners = None if user is None else owner_ids(user, grant)  # None: the system, every customer (benchmarks)
    return Context(today, make_period(period, today), customers_of(owners), grant, language, owners, refresh)


def freshness(refresh, today, language="zh", pending=False):
    """What the page says about the roll-ups' age: {"at", "as_of", "text", "stale", "missing"}."""
    if refresh is None:
        text = ("首页数据尚未计算：已加入后台任务，稍后刷新本页（也可运行 run.py refresh-dashboard）" if pending else
                "首页数据尚未计算：运行 run.py refresh-dashboard，或等待每日的后台任务 dashboard-refresh")
        if language != "zh":
            text = ("The dashboard's figures are being computed by the worker; reload shortly (or run run.py "
                    "refresh-dashboard)" if pending else "The dashboard's figures were never computed: run "
                    "run.py refresh-dashboard, or wait for the daily job dashboard-refresh")
        return {"at": None, "as_of": None, "text": text, "stale": True, "missing": True}
    at = refresh.at.strftime("%Y-%m-%d %H:%M")
    stale = refresh.as_of < today - datetime.timedelta(days=1)
    if language == "zh":
        text = f"数据更新于 {at}（统计至 {refresh.as_of.isoformat()}）" + (
            "；已超过一天未更新，请检查后台任务 dashboard-refresh" if stale else "")
    else:
        text = f"Figures computed {at} (data up to {refresh.as_of.isoformat()})" + (
            "; more than a day old: check the job dashboard-refresh" if stale else "")
    return {"at": at, "as_of": refresh.as_of.isoformat(), "text": text, "stale": stale, "missing": False}


def _first_view(today):
    """The roll-ups were never computed: compute them now for a small database (a few seconds at most), else
    queue the job for a worker; returns (refresh or None, queued?)."""
    largest = Customer.select(Customer.id).order_by(Customer.id.desc()).limit(1).scalar() or 0
    if largest <= FIRST_VIEW_LIMIT:
        return rollup.refresh(today, trigger="first-view"), False
    from .tasks import queue_refresh

    queue_refresh(username="system")
    return None, True


def cards_for(grant):
    """The cards `grant` may see, in the registry's order (grant None: the system, every card)."""
    return [card for card in CARDS.values() if grant is None or card.allowed(grant)]


def build(user, grant, today, period=None, language="zh", sources=None):
    """Every card the grant allows, with its data, for `period` ending `today`; `sources` another registry of the
    same names (dashboard.DIRECT: the raw tables).

    Raises periods.UnknownPeriod (a Chinese message) for a period key not in the registry."""
    make_period(period, today)  # refuse an unknown period before anything is read or computed
    refresh, pending = rollup.latest(), False
    if refresh is None and sources is None:
        refresh, pending = _first_view(today)
    ctx = context(user, grant, today, period, language, refresh)
    cards = cards_for(grant)
    registry = SOURCES if sources is None else sources
    results = {}
    for name in dict.fromkeys(card.source for card in cards):  # each source once, in first-use order
        results[name] = (registry.get(name) or SOURCES[name])(ctx)
    return {
        "today": today.isoformat(),
        "freshness": freshness(refresh, today, language, pending),
        "period": {"key": ctx.period.key, "label": ctx.period.label[language], "start": ctx.period.start.isoformat(),
                   "end": ctx.period.end.isoformat()},
        "periods": [{"key": kind.key, "label": kind.label[language]} for kind in PERIODS.values()],
        "cards": [{"key": card.key, "title": card.title[language], "kind": card.kind, "width": card.width,
                   "money": card.money, "period": card.period, "empty_text": card.empty[language],
                   "link": card.link,
                   "data": card.shape(results[card.source], ctx)}
                  for card in cards],
    }
