"""The Handout's chart as a PNG for the printed page (and a mail), drawn with matplotlib in the
project's own CJK font (analytics.charts.setup), as the notebook reports draw theirs."""
import io

MOST_SLICES = 12  # a pie with more slices cannot be read; the rest go into 其他


def chart_png(handout, dpi=150):
    """PNG bytes of handout.chart over handout.summary, or None when there is no chart or no row."""
    spec, table = handout.chart, handout.summary
    if spec is None or not table.rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analytics import charts

    charts.setup()
    categories = [str(value) for value in table.values(spec.category)]
    figure, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    if spec.title or handout.title:
        ax.set_title(spec.title or handout.title)
    if spec.kind == "pie":
        values = [float(v or 0) for v in table.values(spec.values[0])]
        pairs = sorted(zip(values, categories), reverse=True)
        if len(pairs) > MOST_SLICES:
            pairs = pairs[:MOST_SLICES - 1] + [(sum(v for v, _ in pairs[MOST_SLICES - 1:]), "其他")]
        ax.pie([v for v, _ in pairs], labels=[c for _, c in pairs], autopct="%1.1f%%", startangle=90,
               counterclock=False)
        ax.axis("equal")
    else:
        _series(ax, spec, table, categories)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def _series(ax, spec, table, categories):
    """Bars or lines of spec.values along the categories; a measure of another kind than the first (订单数
    beside 消费额) gets a value axis of its own on the right, so neither is flattened by the other's scale."""
    from analytics import charts

    axes, handles = {}, []
    width = 0.8 / len(spec.values)
    positions = range(len(categories))
    for number, key in enumerate(spec.values):
        _, column = table.column(key)
        if column.kind not in axes:
            axes[column.kind] = ax if not axes else ax.twinx()
            target = axes[column.kind]
            target.set_ylabel(column.label)
            tick_format = charts.formatter({"money": "money", "percent": "percent"}.get(column.kind, "count"))
            target.yaxis.set_major_formatter(tick_format)
            if target is not ax:
                target.grid(False)
        target = axes[column.kind]
        values = [float(v or 0) for v in table.values(key)]
        colour = f"C{number}"
        if spec.kind == "bar":
            shift = (number - (len(spec.values) - 1) / 2) * width
            handles.append(target.bar([p + shift for p in positions], values, width, label=column.label, color=colour))
        else:
            handles.append(target.plot(list(positions), values, marker="o", label=column.label, color=colour)[0])
    ax.set_xticks(list(positions), categories)
    ax.tick_params(axis="x", labelrotation=30 if len(categories) > 6 else 0)
    ax.set_xlabel(table.column(spec.category)[1].label)
    if len(spec.values) > 1:
        ax.legend(handles=handles, labels=[h.get_label() for h in handles])
    step = -(-len(categories) // 12)  # at most 12 labels along the axis: three years of months would overlap
    for index, label in enumerate(ax.get_xticklabels()):
        label.set_visible(index % step == 0)
