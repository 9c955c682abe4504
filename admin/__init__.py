"""The admin screens: Flask-Admin over the models, every view behind the access policy."""
from flask import Blueprint
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import LazyString
from flask_login import current_user

from models import (AuditLog, Choice, Customer, CustomerTag, Feedback, FollowUp, ImportRun, Order, ReportRun, Role,
                    CustomerValue, PipelineTransition, StatusChange, Subscription, Tag, User)

from .administration import AuditLogView, ChoiceView, RoleView, TagView, UserView
import os

import numberformat
from i18n import compile_admin_messages, current_language
from web.security import csp_nonce

from .api_tokens import ApiTokenView  # API令牌 (admin/api_tokens.py)
from .dashboard import HomeView  # 首页: the dashboard (admin/dashboard.py)
from .duplicates import DuplicatesView
from .imports import ImportRunView
from .jobs import JobsView
from .pipeline import FunnelView, TransitionView
from .privacy import PersonalDataView
from .report_builder import ReportBuilderView
from .privacy import tools as privacy_tools
from .quality import QualityView
from .tagging import TagBatchView, TagReviewView
from .tag_rules import TagRuleView
from .tasks import ReminderRuleView, TaskBoardView
from .values import CustomerValueView
from .labels import CATEGORY_NAMES, VIEW_NAMES
from .report_runs import ReportRunView
from .subscriptions import SubscriptionView
from .records import CustomerTagView, CustomerView, FeedbackView, FollowUpView, OrderView, StatusChangeView
from .secured import current_grant


# (view class, model, endpoint, menu category); the endpoint is also the policy key
SCREENS = (
    (CustomerView, Customer, "customer", "records"),
    (FollowUpView, FollowUp, "followup", "records"),
    (OrderView, Order, "order", "records"),
    (FeedbackView, Feedback, "feedback", "records"),
    (StatusChangeView, StatusChange, "statuschange", "records"),
    (CustomerTagView, CustomerTag, "customertag", "records"),
    (TagView, Tag, "tag", "reference"),
    (ChoiceView, Choice, "choice", "reference"),
    (ReportRunView, ReportRun, "reportrun", "analysis"),
    (SubscriptionView, Subscription, "subscription", "analysis"),
    (UserView, User, "user", "system"),
    (RoleView, Role, "role", "system"),
    (AuditLogView, AuditLog, "auditlog", "system"),
)


def _translated(table, key):
    """A menu text that follows the interface language (Flask-Admin keeps menu names as given)."""
    return LazyString(lambda: table[current_language()][key])


templates = Blueprint("crm_admin_templates", __name__, template_folder="templates")


def init_app(app):
    app.register_blueprint(templates)
    admin = Admin(
        app,
        name="客户资料管理与分析平台",
        theme=Bootstrap4Theme(swatch="default", base_template="admin/crm_base.html", fluid=True),
        index_view=HomeView(name="首页", url="/admin"),
        translations_path=compile_admin_messages(os.path.join(app.instance_path, "translations")),
        csp_nonce_generator=csp_nonce,  # web/security.py: Flask-Admin's inline scripts carry the request's nonce
    )
    categories = {key: _translated(CATEGORY_NAMES, key) for key in CATEGORY_NAMES["zh"]}
    screens = {}
    for view_class, model, endpoint, category in SCREENS:
        screens[endpoint] = view_class(model, name=_translated(VIEW_NAMES, endpoint), endpoint=endpoint,
                                       category=categories[category])
        admin.add_view(screens[endpoint])
    # Tags (admin/tagging.py): the customer list's 批量标签 bar posts to tagbatch (policy key "tagging"), which
    # builds "every matching customer" through the list view's own query; 标签使用情况 reviews the library.
    admin.add_view(TagBatchView(screens["customer"], name=_translated(VIEW_NAMES, "tagbatch"), endpoint="tagbatch",
                                category=categories["records"]))
    admin.add_view(TagReviewView(screens["customer"], name=_translated(VIEW_NAMES, "tagreview"),
                                 endpoint="tagreview", category=categories["reference"]))
    # 标签规则 (admin/tag_rules.py): automatic tag rules and their preview, policy key "tagrule".
    admin.add_view(TagRuleView(name=_translated(VIEW_NAMES, "tagrule"), endpoint="tagrule",
                               category=categories["reference"]))
    # 我的任务 (a top-level menu entry) and 提醒规则 (admin/tasks.py): policy keys "task" and "reminderrule".
    admin.add_view(TaskBoardView(name=_translated(VIEW_NAMES, "task"), endpoint="tasks"))
    admin.add_view(ReminderRuleView(name=_translated(VIEW_NAMES, "reminderrule"), endpoint="reminderrule",
                                    category=categories["reference"]))
    # 销售漏斗 and 状态流转 (admin/pipeline.py): policy keys "funnel" and "pipelinerule".
    admin.add_view(FunnelView(name=_translated(VIEW_NAMES, "funnel"), endpoint="funnel",
                              category=categories["analysis"]))
    admin.add_view(TransitionView(PipelineTransition, name=_translated(VIEW_NAMES, "pipelinerule"),
                                  endpoint="pipelinerule", category=categories["reference"]))
    # Jobs are code, not records: a plain view gated on the role screen's permissions (admin/jobs.py).
    admin.add_view(JobsView(name=_translated(VIEW_NAMES, "jobs"), endpoint="jobs", category=categories["system"]))
    # 数据质量: a plain view over several models, gated on its own policy key "quality" (admin/quality.py).
    admin.add_view(QualityView(name=_translated(VIEW_NAMES, "quality"), endpoint="quality",
                               category=categories["records"]))
    # 数据导入: the import wizard and the imports made (admin/imports.py); its policy key is not a
    # records model's, so it stays out of SCREENS (whose models the policy matrix walks).
    admin.add_view(ImportRunView(ImportRun, name=_translated(VIEW_NAMES, "importrun"), endpoint="importrun",
                                 category=categories["records"]))
    # 重复客户: a plain view over the duplicate scan and merge, gated on its own policy key (admin/duplicates.py).
    admin.add_view(DuplicatesView(name=_translated(VIEW_NAMES, "duplicates"), endpoint="duplicates",
                                  category=categories["records"]))
    # 客户价值分析表: the value table (admin/values.py), policy key "customervalue"; computed rows, so not in SCREENS.
    admin.add_view(CustomerValueView(CustomerValue, name=_translated(VIEW_NAMES, "customervalue"), endpoint="customervalue",
                                     category=categories["analysis"]))
    # 自定义报表 (admin/report_builder.py): the report builder, policy key "customreport".
    admin.add_view(ReportBuilderView(name=_translated(VIEW_NAMES, "customreport"), endpoint="reportbuilder",
                                     category=categories["analysis"]))
    # 个人数据请求 (admin/privacy.py): the details page's 导出个人数据 and 匿名化 post here; no menu entry.
    admin.add_view(PersonalDataView(name=_translated(VIEW_NAMES, "personaldata"), endpoint="personaldata"))
    app.jinja_env.globals["privacy_tools"] = privacy_tools
    # API令牌 (admin/api_tokens.py): the REST API's tokens, policy key "apitoken".
    admin.add_view(ApiTokenView(name=_translated(VIEW_NAMES, "apitoken"), endpoint="apitoken",
                                category=categories["system"]))
    # Figures on the admin's own screens read as in its lists: {{ n|thousands }} 1,234 and {{ x|money }} ¥1,234.00
    app.jinja_env.filters.update(thousands=numberformat.count, money=numberformat.money)
    app.jinja_env.globals["can"] = lambda model, action: current_user.is_authenticated and current_grant().can(
        model, action
    )
    app.extensions["crm_admin"] = admin
    return admin
