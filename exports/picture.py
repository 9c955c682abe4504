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
        _, column = table.column(spec.values[0])
        values = [float(v or 0) for v in table.values(spec.values[0])]
        pairs = sorted(zip(values, categories), reverse=True)
        if len(pairs) > MOST_SLICES:
            pairs = pairs[:MOST_SLICES - 1] + [(sum(v for v, _ in pairs[MOST_SLICES - 1:]), "其他")]
        ax.pie([v for v, _ in pairs], labels=[c for _, c in pairs], autopct="%1.1f%%", startangle=90,
               counterclock=False)
        ax.axis("equal")
    else:
        width = 0.8 / len(spec.values)
        kinds = set()
        for number, key in enumerate(spec.values):
            _, column = table.column(key)
            kinds.add(column.kind)
            values = [float(v or 0) for v in table.values(key)]
            positions = range(len(categories))
            if spec.kind == "bar":
                ax.bar([p + (number - (len(spec.values) - 1) / 2) * width for p in positions], values, width,
                       label=column.label)
            else:
                ax.plot(list(positions), values, marker="o", label=column.label)
        ax.set_xticks(range(len(categories)), categories)
        ax.tick_params(axis="x", labelrotation=30 if len(categories) > 6 else 0)
        if len(spec.values) > 1:
            ax.legend()
        else:
            ax.set_ylabel(table.column(spec.values[0])[1].label)
        ax.set_xlabel(table.column(spec.category)[1].label)
        if len(kinds) == 1:
            value_format = {"money": "money", "percent": "percent", "count": "count"}.get(kinds.pop())
            tick_format = charts.formatter(value_format)
            if tick_format is not None:
                ax.yaxis.set_major_formatter(tick_format)
        charts._thin_labels(ax) if len(categories) > 12 else None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()
