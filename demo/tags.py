"""The demo's tag catalogue, and which tags a customer's own history earns.

Rule tags (source "rule") follow from the generated records, so a filter on them
agrees with the orders (高价值, 流失风险 and 近30天下单 are applied by their tag rules after the load,
tagrules.seed); manual tags (source "manual") are what a sales rep adds by
judgement and are drawn at random.
"""

# (name, category, how it is assigned)
CATALOGUE = [
    ("新客户", "基本信息", "rule"),
    ("老客户", "基本信息", "rule"),
    ("小微企业", "基本信息", "rule"),
    ("中型企业", "基本信息", "rule"),
    ("大型企业", "基本信息", "rule"),
    ("上市公司", "基本信息", "manual"),
    ("政府关系", "基本信息", "manual"),
    ("海外业务", "基本信息", "manual"),
    ("高频复购", "行为", "rule"),
    ("沉睡客户", "行为", "rule"),
    ("大促活跃", "行为", "rule"),
    ("年末采购", "行为", "rule"),
    ("线上下单", "行为", "rule"),
    ("近30天下单", "行为", "rule"),
    ("多渠道购买", "行为", "rule"),
    ("活动参与者", "行为", "manual"),
    ("推荐过新客户", "行为", "manual"),
    ("VIP", "价值", "rule"),
    ("高价值", "价值", "rule"),
    ("中价值", "价值", "rule"),
    ("低价值", "价值", "rule"),
    ("潜力客户", "价值", "rule"),
    ("流失风险", "价值", "rule"),
    ("偏好电话沟通", "偏好", "manual"),
    ("偏好上门拜访", "偏好", "manual"),
    ("偏好邮件沟通", "偏好", "manual"),
    ("关注售后服务", "偏好", "manual"),
    ("价格敏感", "偏好", "manual"),
    ("注重品质", "偏好", "manual"),
    ("喜欢尝新", "偏好", "manual"),
    ("偏好年付", "偏好", "manual"),
]
MANUAL = [name for name, _, how in CATALOGUE if how == "manual"]
COMPANY_ONLY = {"上市公司", "政府关系", "海外业务"}

VIP_TOTAL = 300_000
HIGH_TOTAL = 60_000
MIDDLE_TOTAL = 8_000


def rule_tags(customer, history, timeline):
    """Names of the rule tags this customer's fields and history earn."""
    tags = []
    since = timeline.days - 1 - customer["first_day"]
    orders = history.orders
    if since <= 90:
        tags.append("新客户")
    elif since >= 730 and orders:
        tags.append("老客户")
    staff = customer["employees"]
    if staff is not None:
        tags.append("小微企业" if staff < 50 else "中型企业" if staff < 500 else "大型企业")
    if orders:
        total = history.total
        if total >= VIP_TOTAL:
            tags.append("VIP")
        elif total < HIGH_TOTAL:  # 高价值 in between comes from its tag rule (tagrules.seed), not from here
            tags.append("中价值" if total >= MIDDLE_TOTAL else "低价值")
        if len(orders) >= 8:
            tags.append("高频复购")
        if history.status == "流失客户":
            tags.append("沉睡客户")
        if sum(1 for o in orders if timeline.promo[o.day]) >= 2:
            tags.append("大促活跃")
        if any(timeline.december[o.day] for o in orders):
            tags.append("年末采购")
        channels = {o.channel for o in orders}
        if len(channels) >= 2 and len(orders) >= 4:
            tags.append("多渠道购买")
        if sum(1 for o in orders if o.channel == "线上商城") * 2 > len(orders):
            tags.append("线上下单")
    elif history.status == "意向客户":
        tags.append("潜力客户")
    return tags
