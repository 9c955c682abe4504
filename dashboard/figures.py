"""What the customers and funnel sources answer, the same from the roll-ups (dashboard.sources) and from the raw
tables (dashboard.direct), so the cards never know which path read them."""
from typing import NamedTuple


class CustomerFigures(NamedTuple):
    mix: list  # [(status, industry, customers)]: every customer in scope, now
    new: int  # created in the period
    month: int  # created this month (up to today)


class FunnelFigures(NamedTuple):
    """The period's cohort (pipeline.funnel's chart): customers who entered 潜在 in it, those of them who reached 意向
    (or 成交) and 成交 by its end; and the customers in 流失 at its end."""
    potential: int
    interested: int
    won: int
    lost: int

    @property
    def chart(self):
        return [("潜在客户", self.potential), ("意向客户", self.interested), ("成交客户", self.won)]

    @property
    def rate(self):
        """潜在 → 成交, None when nobody entered."""
        return self.won / self.potential if self.potential else None
