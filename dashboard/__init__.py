"""The dashboard (issue 11, part 6): the admin home page's figures and charts for the viewer's row scope.
Never imports Flask; admin/dashboard.py is the page.

    import dashboard
    board = dashboard.build(user, grant, today=datetime.date(2026, 12, 7), period="3m")
    dashboard.card("tasks_due", {"zh": ..., "en": ...}, "stats", "tasks", shape, allowed)  # one more card
    dashboard.source("tasks")(lambda ctx: ...)                                             # and its query

- periods.py: the period selector's registry (本月 / 近3个月 / 近12个月 / 本年), from a `today` passed in;
- sources.py: the queries, a statement or two each over the roll-ups (or live where an index makes it cheap),
  shared by cards; direct.py: the same figures from the raw tables (the tests compare both);
- rollup.py: the roll-ups (models.rollups) rebuilt set-based for a day, `dashboard.refresh(as_of)`;
  tasks.py: the job `dashboard-refresh` (daily, and queued after an import or its undo);
- cards.py: the cards (title, chart kind, source, shape, who may see it); policy.py asks the grant.
See docs/dashboard.md.
"""
from .board import Context, build, cards_for, context, freshness
from .cards import CARDS, Card, card, money, unregister
from .direct import DIRECT
from .periods import DEFAULT, PERIODS, UnknownPeriod, period
from .rollup import latest, refresh
from .sources import SOURCES, source

__all__ = ["CARDS", "Card", "Context", "DEFAULT", "DIRECT", "PERIODS", "SOURCES", "UnknownPeriod", "build", "card",
           "cards_for", "context", "freshness", "latest", "money", "period", "refresh", "source", "unregister"]
