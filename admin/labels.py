"""Column labels users know, per language.  Keys are field names; one table for all views."""

ZH = {
    # customer
    "code": "客户编号", "name": "客户名称", "customer_type": "客户类型", "contact": "联系人",
    "mobile": "手机号码", "phone": "电话", "email": "邮箱", "industry": "所属行业", "region": "所属地区",
    "source": "客户来源", "address": "地址", "employees": "员工人数", "annual_revenue": "年营收",
    "needs": "客户需求", "notes": "备注", "first_contact": "首次接触时间", "owner": "负责人",
    "status": "客户状态", "id_number": "身份证号", "bank_account": "银行卡号",
    "created_at": "创建时间", "updated_at": "更新时间",
    # follow-up
    "record_no": "记录ID", "customer": "客户", "at": "时间", "method": "跟进方式", "content": "内容",
    "result": "跟进结果", "next_date": "下次跟进时间", "user": "操作人",
    # order
    "order_no": "订单号", "ordered_at": "下单时间", "amount": "金额", "quantity": "数量",
    "product": "产品", "channel": "渠道",
    # tags, feedback, status
    "category": "分类", "tag": "标签", "kind": "类型", "score": "评分",
    "from_status": "原状态", "to_status": "新状态", "reason": "原因",
    # users and policy
    "username": "用户名", "display_name": "姓名", "role": "角色", "manager": "上级经理", "active": "启用",
    "must_change_password": "首次登录须改密码",
    "totp_enabled": "两步验证", "require_totp": "需要两步验证", "label": "显示名称", "row_scope": "数据范围",
    "description": "说明", "model": "对象", "column": "字段", "access": "权限",
    "can_view": "查看", "can_create": "新建", "can_edit": "编辑", "can_delete": "删除", "can_export": "导出",
    "position": "排序", "action": "操作", "record_id": "记录", "changes": "变更内容", "ip": "IP",
    "rows": "行数",
    # report runs
    "run_id": "运行编号", "report": "报表", "parameters": "参数", "code_version": "代码版本",
    "watermark": "数据水位", "error_name": "错误类型", "error": "错误信息", "started_at": "开始时间",
    "finished_at": "结束时间", "duration": "耗时（秒）",
    # report subscriptions (schedule, recipients, next_run, last_delivery: computed list columns)
    "schedule_kind": "计划类型", "weekday": "星期", "day": "每月日期", "time": "发送时间", "cron": "cron 表达式",
    "timezone": "时区", "recipient_users": "收件用户", "recipient_emails": "收件邮箱", "schedule": "计划",
    "recipients": "收件人", "next_run": "下次发送", "last_delivery": "最近发送",
    # tag library
    "retired_at": "停用时间",
    # consent and erasure (privacy/)
    "consent_purpose": "同意用途", "consent_at": "同意日期", "consent_withdrawn_at": "撤回同意日期",
    "anonymised_at": "匿名化时间",
}

EN = {
    "code": "Code", "name": "Name", "customer_type": "Type", "contact": "Contact", "mobile": "Mobile",
    "phone": "Phone", "email": "Email", "industry": "Industry", "region": "Region", "source": "Source",
    "address": "Address", "employees": "Employees", "annual_revenue": "Annual revenue", "needs": "Needs",
    "notes": "Notes", "first_contact": "First contact", "owner": "Owner", "status": "Status",
    "id_number": "ID number", "bank_account": "Bank account", "created_at": "Created", "updated_at": "Updated",
    "record_no": "Record no.", "customer": "Customer", "at": "Time", "method": "Method", "content": "Content",
    "result": "Result", "next_date": "Next follow-up", "user": "By", "order_no": "Order no.",
    "ordered_at": "Ordered at", "amount": "Amount", "quantity": "Quantity", "product": "Product",
    "channel": "Channel", "category": "Category", "tag": "Tag", "kind": "Kind", "score": "Score",
    "from_status": "From", "to_status": "To", "reason": "Reason", "username": "Username",
    "display_name": "Display name", "role": "Role", "manager": "Manager", "active": "Active",
    "must_change_password": "Must change password",
    "totp_enabled": "Two-step login", "require_totp": "Requires two-step login", "label": "Label", "row_scope": "Row scope",
    "description": "Description", "model": "Model", "column": "Column", "access": "Access",
    "can_view": "View", "can_create": "Create", "can_edit": "Edit", "can_delete": "Delete", "can_export": "Export",
    "position": "Position", "action": "Action", "record_id": "Record", "changes": "Changes", "ip": "IP",
    "rows": "Rows",
    "run_id": "Run", "report": "Report", "parameters": "Parameters", "code_version": "Code version",
    "watermark": "Data watermark", "error_name": "Error", "error": "Error message", "started_at": "Started",
    "finished_at": "Finished", "duration": "Duration (s)",
    "schedule_kind": "Schedule type", "weekday": "Weekday", "day": "Day of month", "time": "Time", "cron": "Cron expression",
    "timezone": "Time zone", "recipient_users": "Recipient users", "recipient_emails": "Recipient e-mails",
    "schedule": "Schedule", "recipients": "Recipients", "next_run": "Next run", "last_delivery": "Last delivery",
    "retired_at": "Retired",
    "consent_purpose": "Consent purpose", "consent_at": "Consent date", "consent_withdrawn_at": "Consent withdrawn",
    "anonymised_at": "Anonymised",
}

# Where one field name means different things on different models: "model.column" keys win.
ZH.update({"feedback.status": "处理状态", "customertag.source": "来源", "tag.source": "来源", "choice.name": "名称", "choice.kind": "列表",
           "tag.name": "标签名称", "choice.code": "缩写", "choice.aliases": "同义词", "role.name": "角色标识", "order.channel": "渠道",
           "reportrun.status": "运行状态", "reportrun.username": "运行人", "subscription.name": "订阅名称",
           "subscription.enabled": "状态", "subscription.owner": "所有者",
           "importrun.created_at": "时间", "importrun.username": "导入人", "importrun.kind": "数据类型",
           "importrun.filename": "文件", "importrun.status": "状态", "importrun.summary": "结果"})
EN.update({"feedback.status": "Status", "customertag.source": "Source", "tag.source": "Source", "choice.name": "Name", "choice.kind": "List",
           "tag.name": "Tag", "choice.code": "Abbreviation", "choice.aliases": "Synonyms", "role.name": "Key",
           "reportrun.username": "Run by", "subscription.name": "Subscription", "subscription.enabled": "State",
           "importrun.created_at": "Time", "importrun.username": "Imported by", "importrun.kind": "Kind",
           "importrun.filename": "File", "importrun.status": "Status", "importrun.summary": "Outcome"})

# 跟进记录: the seed's follow-up table (记录ID, 客户编号, 跟进时间, 跟进方式, 跟进内容, 下次跟进时间, 跟进人, 跟进结果)
ZH.update({"followup.customer": "客户编号", "followup.at": "跟进时间", "followup.content": "跟进内容",
           "followup.user": "跟进人"})
EN.update({"followup.customer": "Customer code", "followup.at": "Follow-up time", "followup.content": "Follow-up content",
           "followup.user": "Followed up by"})

# API令牌 (admin/api_tokens.py) in the audit log, and the token an API write came through (api/trail.py)
ZH.update({"apitoken.user": "所属用户", "apitoken.name": "令牌名称", "apitoken.scope": "权限范围",
           "apitoken.expires_at": "有效期至", "api_token": "API令牌"})
EN.update({"apitoken.user": "User", "apitoken.name": "Token name", "apitoken.scope": "Scope",
           "apitoken.expires_at": "Expires", "api_token": "API token"})

# 客户价值分析表 (admin/values.py)
ZH.update({"customervalue.customer": "客户", "customervalue.code": "客户编号", "customervalue.name": "客户名称",
           "customervalue.annual_spend": "年度消费额", "customervalue.orders_12m": "订单总笔数",
           "customervalue.ltv": "客户生命周期价值 LTV", "customervalue.tier": "客户分层",
           "customervalue.last_order_at": "最后下单时间", "customervalue.as_of": "数据日期",
           "customervalue.refreshed_at": "刷新时间"})
EN.update({"customervalue.customer": "Customer", "customervalue.code": "Code", "customervalue.name": "Name",
           "customervalue.annual_spend": "Annual spend", "customervalue.orders_12m": "Orders (12 months)",
           "customervalue.ltv": "Lifetime value (LTV)", "customervalue.tier": "Tier",
           "customervalue.last_order_at": "Last order", "customervalue.as_of": "As of",
           "customervalue.refreshed_at": "Refreshed"})

# 状态流转 (admin/pipeline.py)
ZH.update({"pipelinerule.name": "名称", "pipelinerule.trigger": "触发条件", "pipelinerule.from_statuses": "起始状态",
           "pipelinerule.to_status": "目标状态", "pipelinerule.to_tag": "目标标签", "pipelinerule.params": "参数",
           "pipelinerule.enabled": "启用", "pipelinerule.position": "顺序"})
EN.update({"pipelinerule.name": "Name", "pipelinerule.trigger": "Trigger", "pipelinerule.from_statuses": "From",
           "pipelinerule.to_status": "To status", "pipelinerule.to_tag": "To tag", "pipelinerule.params": "Parameters",
           "pipelinerule.enabled": "Enabled", "pipelinerule.position": "Order"})

LABELS = {"zh": ZH, "en": EN}
_merged = {}


def labels_for(model, language):
    """Field labels for one model in one language (cached: the tables never change at run time)."""
    key = (model, language)
    if key not in _merged:
        table = LABELS[language]
        prefix = model + "."
        merged = {k: v for k, v in table.items() if "." not in k}
        merged.update({k[len(prefix):]: v for k, v in table.items() if k.startswith(prefix)})
        _merged[key] = merged
    return _merged[key]

VIEW_NAMES = {
    "zh": {
        "customer": "客户", "followup": "跟进记录", "order": "订单", "feedback": "客户反馈",
        "statuschange": "状态变更", "customertag": "客户标签", "tag": "标签", "choice": "选项列表",
        "reportrun": "报表运行", "subscription": "报表订阅", "user": "用户", "role": "角色权限", "auditlog": "审计日志", "jobs": "后台任务",
        "quality": "数据质量", "duplicates": "重复客户", "importrun": "数据导入",
        "tagging": "批量标签", "tagbatch": "批量标签", "tagreview": "标签使用情况", "tagrule": "标签规则",
        "customervalue": "客户价值分析表", "customreport": "自定义报表",
        "task": "我的任务", "reminderrule": "提醒规则",
        "funnel": "销售漏斗", "pipelinerule": "状态流转",
        "personaldata": "个人数据请求",
        "apitoken": "API令牌",
    },
    "en": {
        "customer": "Customers", "followup": "Follow-ups", "order": "Orders", "feedback": "Feedback",
        "statuschange": "Status changes", "customertag": "Customer tags", "tag": "Tags", "choice": "Lists",
        "reportrun": "Report runs", "subscription": "Report subscriptions", "user": "Users", "role": "Roles", "auditlog": "Audit log",
        "jobs": "Background jobs", "quality": "Data quality", "duplicates": "Duplicates", "importrun": "Data import",
        "tagging": "Batch tags", "tagbatch": "Batch tags", "tagreview": "Tag usage", "tagrule": "Tag rules",
        "customervalue": "Customer value", "customreport": "Report builder",
        "task": "My tasks", "reminderrule": "Reminder rules",
        "funnel": "Sales funnel", "pipelinerule": "Status transitions",
        "personaldata": "Personal data requests",
        "apitoken": "API tokens",
    },
}

CATEGORY_NAMES = {
    "zh": {"records": "客户管理", "reference": "基础数据", "analysis": "分析报表", "system": "系统管理"},
    "en": {"records": "Customers", "reference": "Reference data", "analysis": "Analysis", "system": "Administration"},
}

