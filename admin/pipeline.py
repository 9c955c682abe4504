"""销售漏斗 (分析报表 → 销售漏斗, /admin/funnel/) and 状态流转 (基础数据 → 状态流转, /admin/pipelinerule/).

- 销售漏斗: counts per stage at the end of a chosen period, customers who entered each stage in it, stage-to-stage
  conversion (docs/funnel.md), drawn with ECharts (served from web/static/vendor, no CDN) above a table of
  the numbers; filters by owner, team, region and industry, always inside the viewer's row scope
  (policy key `funnel`).  The numbers come from pipeline.funnel.counts, which the dashboard calls too.
- 状态流转: the automatic transitions as records (policy key `pipelinerule`; admins edit them): trigger kind
  from the registry, from-statuses, target status or tag, parameters, enabled.  Checked by pipeline.check;
  every save and delete is audited by PolicyModelView.
"""
import datetime

from flask import flash, request
from flask_admin import expose
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import ValidationError

import pipeline
from access.scope import owner_ids, scope_query
from i18n import current_language
from models import Choice, Customer, User
from models.customers import STATUSES

from .secured import PolicyModelView, PolicyView, current_grant

TEXT = {
    "zh": {
        "intro": "按客户状态历史统计：期末各阶段客户数、期间进入各阶段的客户数，以及阶段之间的转化。只统计您数据范围内的客户。",
        "start": "开始日期", "end": "结束日期", "owner": "负责人", "team": "团队", "region": "所属地区",
        "industry": "所属行业", "all": "全部", "apply": "查询", "presets": "快捷期间",
        "this_month": "本月", "last_90": "近90天", "this_quarter": "本季度", "this_year": "本年",
        "chart_title": "期间漏斗：{start} 至 {end} 新增潜在客户的去向",
        "stage": "阶段", "at_end": "期末客户数", "entered": "期间进入", "to": "转化到", "reached": "期间内到达",
        "rate": "转化率", "stages": "各阶段客户数", "conversions": "阶段转化",
        "overall": "整体（潜在 → 成交）", "no_rate": "—", "team_of": "{name}的团队",
        "bad_date": "日期格式应为 YYYY-MM-DD：{value}",
        "bad_owner": "所选负责人不在您的数据范围内", "bad_team": "所选团队不在您的数据范围内",
        "bad_choice": "{label}“{value}”不在列表中",
        "definition": "期间转化：期间内进入前一阶段的客户中，到期末为止到达后一阶段的比例（直接成交也算到达意向）。"
                      "成交 → 流失为期间新成交客户的流失比例。",
        "chart_names": {"潜在客户": "潜在客户", "意向客户": "进入意向", "成交客户": "成交"},
        "lost_note": "同期流失：{count} 位",
    },
    "en": {
        "intro": "From the customers' status history: customers per stage at the period's end, customers who entered "
                 "each stage in it, and conversion between stages. Only customers in your scope.",
        "start": "From", "end": "To", "owner": "Owner", "team": "Team", "region": "Region", "industry": "Industry",
        "all": "All", "apply": "Show", "presets": "Periods", "this_month": "This month", "last_90": "Last 90 days",
        "this_quarter": "This quarter", "this_year": "This year",
        "chart_title": "Funnel: where the leads of {start} to {end} went",
        "stage": "Stage", "at_end": "At the end", "entered": "Entered", "to": "To", "reached": "Reached",
        "rate": "Conversion", "stages": "Customers per stage", "conversions": "Conversion",
        "overall": "Overall (lead → won)", "no_rate": "—", "team_of": "{name}'s team",
        "bad_date": "Dates are YYYY-MM-DD: {value}", "bad_owner": "That owner is outside your scope",
        "bad_team": "That team is outside your scope", "bad_choice": "{label} “{value}” is not in the list",
        "definition": "Conversion: of the customers who entered the first stage in the period, the share who reached "
                      "the next by its end (signing at once counts as interested). Won → lost is the churn of the "
                      "period's new customers.",
        "chart_names": {"潜在客户": "Leads", "意向客户": "Interested", "成交客户": "Won"},
        "lost_note": "Lost in the period: {count}",
    },
}


def text():
    return TEXT[current_language()]


def _day(value, default):
    value = (value or "").strip()
    if not value:
        return default
    return datetime.date.fromisoformat(value)


def presets(today):
    quarter = datetime.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return [("this_month", today.replace(day=1), today), ("last_90", today - datetime.timedelta(days=89), today),
            ("this_quarter", quarter, today), ("this_year", today.replace(month=1, day=1), today)]


def teams(user, grant):
    """[(manager id, manager)] of the teams the viewer may filter by: every team for scope all, their own team
    for scope team, none for scope own."""
    if grant.row_scope == "own":
        return []
    leads = User.select().where(User.id.in_(User.select(User.manager).where(User.manager.is_null(False))))
    if grant.row_scope == "team":
        allowed = owner_ids(user, grant)
        leads = leads.where(User.id.in_(allowed))
    return list(leads.order_by(User.username))


def owners(user, grant):
    """Users the viewer may filter by: those whose customers they may reach (every user for scope all)."""
    allowed = owner_ids(user, grant)
    query = User.select().order_by(User.username)
    if allowed is not None:
        query = query.where(User.id.in_(allowed))
    else:
        query = query.where(User.id.in_(Customer.select(Customer.owner).where(Customer.owner.is_null(False))))
    return list(query)


class FunnelView(PolicyView):
    policy_key = "funnel"

    def grant_allows(self, grant):
        return pipeline.may_view_funnel(grant)

    @expose("/")
    def index(self):
        words = text()
        grant = current_grant()
        today = datetime.date.today()
        args = request.args
        form = {k: (args.get(k) or "").strip() for k in ("start", "end", "owner", "team", "region", "industry")}
        owner_rows, team_rows = owners(current_user, grant), teams(current_user, grant)
        regions, industries = Choice.names("region"), Choice.names("industry")
        error, result = None, None
        query = scope_query(Customer, Customer.select(Customer.id), current_user, grant)
        try:
            try:
                start = _day(form["start"], today - datetime.timedelta(days=89))
                end = _day(form["end"], today)
            except ValueError:
                bad = form["start"] if not _is_day(form["start"]) else form["end"]
                raise ValueError(words["bad_date"].format(value=bad[:20])) from None
            if form["owner"]:
                if form["owner"] not in {str(u.id) for u in owner_rows}:
                    raise ValueError(words["bad_owner"])
                query = query.where(Customer.owner == int(form["owner"]))
            if form["team"]:
                if form["team"] not in {str(u.id) for u in team_rows}:
                    raise ValueError(words["bad_team"])
                lead = int(form["team"])
                query = query.where(Customer.owner.in_(
                    User.select(User.id).where((User.id == lead) | (User.manager == lead))))
            for name, names in (("region", regions), ("industry", industries)):
                if form[name]:
                    if form[name] not in names:
                        raise ValueError(words["bad_choice"].format(label=words[name], value=form[name][:30]))
                    query = query.where(getattr(Customer, name) == form[name])
            result = pipeline.funnel.counts(query, start, end)
        except ValueError as refused:
            error = str(refused)
            flash(error, "error")
        status = 400 if error else 200
        chart = []
        if result is not None:
            chart = [{"name": words["chart_names"][name], "value": value} for name, value in result.chart]
        return self.render("admin/pipeline/funnel.html", text=words, form=form, result=result, chart=chart,
                           owners=owner_rows, teams=team_rows, regions=regions, industries=industries,
                           presets=[(words[key], a.isoformat(), b.isoformat()) for key, a, b in presets(today)],
                           statuses=[s for s, _ in STATUSES]), status


def _is_day(value):
    try:
        _day(value, None)
        return True
    except ValueError:
        return False


def _trigger_choices():
    return [(t.kind, t.label) for t in pipeline.triggers.available()]


class TransitionView(PolicyModelView):
    """The automatic transitions; admins edit them, managers read them (access/defaults.py, `pipelinerule`)."""

    policy_key = "pipelinerule"
    list_columns = ("position", "name", "trigger", "from_statuses", "to_status", "to_tag", "params", "enabled")
    detail_columns = list_columns + ("description",)
    form_fields = ("name", "trigger", "from_statuses", "to_status", "to_tag", "params", "enabled", "position",
                   "description")
    sortable_columns = ("position", "name")
    column_default_sort = [("position", False), ("id", False)]
    form_overrides = {"trigger": SelectField}
    form_args = {
        "trigger": {"choices": _trigger_choices},
        "from_statuses": {"description": "多个用逗号分隔，例如 潜在客户,意向客户；留空表示任何状态"},
        "to_status": {"description": "状态流转的目标状态（打标签的流转留空）"},
        "to_tag": {"description": "打标签的流转的目标标签（来源须为“规则”）"},
        "params": {"description": 'JSON：N天未下单 {"days": 180}；跟进结果 {"results": ["已报价"]}'},
    }
    column_formatters = {
        "trigger": lambda view, context, model, name: dict(_trigger_choices()).get(model.trigger, model.trigger),
        "to_tag": lambda view, context, model, name: model.to_tag.name if model.to_tag_id and model.to_tag else "",
    }

    def validate_model(self, model, is_created):
        try:
            pipeline.check(model)
        except pipeline.Invalid as invalid:
            raise ValidationError(str(invalid)) from None
        model.updated_at = datetime.datetime.now()

    def customer_changed(self, model):
        """A transition is not a customer's record."""
