"""What a report says, in one plain sentence, when its parameters leave it nothing to show.

The notebooks print these instead of running into an empty frame (or a traceback): a reader
learns why the report is empty and which date to change.
"""

EMPTY_SELECTION = "所选范围内没有订单数据，本报告其余部分从略。"


def window(start, as_of):
    """The sentence for a window that ends before it starts, else None."""
    if start > as_of:
        return f"起始日期 {start} 晚于截止日期 {as_of}，统计区间为空，请调整起始日期或截止日期。"
    return None


def no_orders(start, as_of, first_order):
    """Why the window [start, as_of] of the selection has no orders.

    `first_order` is analytics.queries.first_order_date() of the same selection (None: it has no
    orders at all)."""
    said = window(start, as_of)
    if said:
        return f"{said}本报告其余部分从略。"
    if first_order is not None and first_order > as_of:
        return f"截止日期 {as_of} 之前没有订单数据，最早的订单在 {first_order}。本报告其余部分从略。"
    if first_order is not None:
        return f"统计区间 {start} 至 {as_of} 内没有订单数据（所选范围内最早的订单在 {first_order}），本报告其余部分从略。"
    return EMPTY_SELECTION
