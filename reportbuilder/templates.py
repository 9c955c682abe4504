"""The quick reports (快速报表) shipped with the builder, as data: seed() writes them as SavedReport rows with
`template` set and no owner (run.py init-db calls it; idempotent, and a template an admin changed is kept).
"""
import json

from models import SavedReport, db

TEMPLATES = {
    "monthly_activity": ("客户月度活跃度报表", "近12个月每月下单的客户数、订单数与消费额",
                         {"rows": ["order_month"], "measures": ["customers", "orders", "revenue"],
                          "period": {"preset": "last_12_months"}, "chart": "line"}),
    "high_value": ("高价值客户清单", "客户分层为高价值客户的客户，按近12个月消费额排序，前100位",
                   {"rows": ["customer"], "measures": ["revenue", "orders", "ltv"],
                    "period": {"preset": "last_12_months"}, "filters": {"tier": ["高价值客户"]}, "limit": 100,
                    "chart": "bar"}),
    "industry_mix": ("行业分布", "各行业的客户数与近12个月消费额",
                     {"rows": ["industry"], "measures": ["customers", "revenue"],
                      "period": {"preset": "last_12_months"}, "chart": "pie"}),
    "quarterly_revenue": ("季度消费趋势", "近24个月每季度的消费额、订单数与客单价",
                          {"rows": ["order_quarter"], "measures": ["revenue", "orders", "aov"],
                           "period": {"preset": "last_24_months"}, "chart": "line"}),
    "sales_funnel": ("销售漏斗", "各客户状态的客户数（潜在 → 意向 → 成交，及流失）",
                     {"rows": ["status"], "measures": ["customers"], "period": {"preset": "all"}, "chart": "funnel"}),
}


def seed():
    """Create the templates that are missing; returns how many were created."""
    created = 0
    with db.atomic():
        for key, (name, description, spec) in TEMPLATES.items():
            if SavedReport.get_or_none(SavedReport.template == key) is None:
                SavedReport.create(name=name, description=description, spec=json.dumps(spec, ensure_ascii=False),
                                   shared=True, template=key, owner=None)
                created += 1
    return created
