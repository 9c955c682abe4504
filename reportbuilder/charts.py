"""The chart that suits a result: a line over time, a pie for a mix, a funnel for the status stages, bars
otherwise (or what the spec asks).  The chart shows the first measure; a second dimension becomes its series.

`series(result)` is what the screen hands ECharts (drawn in the browser with the vendored library);
`png(result)` draws the same chart with matplotlib and the bundled CJK font (analytics.charts) for mails.
"""
import io

PIE_MOST = 12  # more slices than this do not read as a mix


def kind(result):
    spec = result.spec
    if spec.chart:
        return spec.chart
    dimensions, measure = spec.dimensions, spec.measure_list[0]
    if any(d.is_time for d in dimensions):
        return "line"
    if len(dimensions) == 1 and measure.additive and 1 < len(result.rows) <= PIE_MOST:
        return "pie"
    return "bar"


def series(result):
    """{"kind", "categories", "series": [{"name", "data"}], "format", "measure"} for the first measure."""
    spec = result.spec
    count = len(spec.rows)
    value_at = count  # the first measure's column
    measure = spec.measure_list[0]
    chart = kind(result)
    if chart == "funnel" or count == 1:
        categories = [row[0] for row in result.rows]
        data = [row[value_at] for row in result.rows]
        if count == 2:  # a funnel of two dimensions: the first one's totals
            totals = {}
            for row in result.rows:
                totals[row[0]] = (totals.get(row[0]) or 0) + (row[value_at] or 0)
            categories, data = list(totals), list(totals.values())
        return {"kind": chart, "categories": categories, "series": [{"name": measure.label, "data": data}],
                "format": measure.format, "measure": measure.label}
    # two dimensions: time (or the first) along the axis, the other as series
    along = 0 if spec.dimensions[0].is_time or not spec.dimensions[1].is_time else 1
    other = 1 - along
    categories, names, cells = [], [], {}
    for row in result.rows:
        if row[along] not in categories:
            categories.append(row[along])
        if row[other] not in names:
            names.append(row[other])
        cells[(row[along], row[other])] = row[value_at]
    return {"kind": "bar" if chart == "pie" else chart, "categories": categories,
            "series": [{"name": name, "data": [cells.get((c, name)) for c in categories]} for name in names],
            "format": measure.format, "measure": measure.label}


def figure(result, title=None):
    """The chart as a matplotlib Figure (the bundled CJK font), or None for an empty result."""
    if not result.rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analytics import charts

    from .compute import format_value

    charts.setup()
    data = series(result)
    drawn, ax = plt.subplots(figsize=(8, 4.2))
    categories = [str(c) for c in data["categories"]]
    values_of = [[v or 0 for v in s["data"]] for s in data["series"]]
    if data["kind"] == "pie":
        ax.pie(values_of[0], labels=categories, autopct="%1.1f%%", startangle=90, counterclock=False)
        ax.axis("equal")
    elif data["kind"] == "funnel":
        values = values_of[0]
        top = max(values + [1])
        positions = list(range(len(values)))[::-1]
        ax.barh(positions, values, left=[(top - v) / 2 for v in values], color="#5470c6")
        ax.set_yticks(positions, categories)
        for position, value in zip(positions, values):
            ax.text(top / 2, position, format_value(value, data["format"]), ha="center", va="center", color="white")
        ax.set_xticks([])
        ax.grid(False)
    elif data["kind"] == "line":
        for s, values in zip(data["series"], values_of):
            ax.plot(categories, values, marker="o", label=s["name"])
        charts._format_axis(ax.yaxis, data["format"], "¥")
        charts._thin_labels(ax)
    else:
        width = 0.8 / len(values_of)
        for number, (s, values) in enumerate(zip(data["series"], values_of)):
            ax.bar([i + number * width - 0.4 + width / 2 for i in range(len(categories))], values, width=width,
                   label=s["name"])
        ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        charts._format_axis(ax.yaxis, data["format"], "¥")
    if len(data["series"]) > 1:
        ax.legend()
    ax.set_title(title or data["measure"])
    drawn.tight_layout()
    return drawn


def png(result, title=None):
    """The chart as PNG bytes, or None for an empty result."""
    drawn = figure(result, title)
    if drawn is None:
        return None
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=110)
    plt.close(drawn)
    return buffer.getvalue()
