"""analytics/charts.py: Chinese renders with the bundled font alone, and axes carry readers' words, not columns."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analytics import charts  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: no font cache (MPLCONFIGDIR is empty), every warning an error (so a
# "Glyph ... missing from font(s)" fails), and every font but matplotlib's own DejaVu hidden from the
# font manager, as on a machine without any CJK system font.
FRESH_MACHINE = textwrap.dedent("""
    import json, pathlib, sys, warnings
    warnings.simplefilter("error")
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import font_manager
    font_manager.fontManager.ttflist = [font for font in font_manager.fontManager.ttflist
                                        if font.fname.startswith(matplotlib.get_data_path())]
    assert not any(font.name.startswith("WenQuanYi") for font in font_manager.fontManager.ttflist)
    import pandas as pd
    from analytics import charts

    out = pathlib.Path(sys.argv[1])
    family = charts.setup()
    segments = pd.DataFrame({"segment": ["重要价值客户", "一般保持客户", "流失客户"],
                             "revenue_share": [0.52, 0.30, 0.18], "revenue": [1_234_567, 45_678, 999]})
    drawn = {
        "bar": charts.bar(segments, "segment", "revenue_share", title="各分群收入占比", xlabel="客户分群",
                          ylabel="收入占比", value_format="percent"),
        "barh": charts.bar(segments, "segment", "revenue", title="各分群收入", horizontal=True, xlabel="收入（元）",
                           ylabel="客户分群", value_format="money"),
        "line": charts.line(pd.DataFrame({"top_share": [0.0, 0.2, 0.5, 1.0], "revenue_share": [0.0, 0.6, 0.85, 1.0],
                                          "curve": ["帕累托曲线"] * 4}),
                            "top_share", "revenue_share", hue="curve", marker="o", title="帕累托曲线",
                            xlabel="客户占比（按价值从高到低）", ylabel="收入占比", value_format="percent",
                            x_format="percent"),
        "heatmap": charts.heatmap(pd.DataFrame([[0.5, 0.5], [0.2, 0.8]], index=["新客户", "活跃客户"],
                                               columns=["新客户", "活跃客户"]),
                                  title="阶段流转（行内占比）", xlabel="统计日期的阶段", ylabel="对比日期的阶段"),
        "compare": charts.compare(pd.DataFrame({"month": ["2024-01", "2024-02"], "a": [0.1, 0.2], "b": [0.05, 0.1]}),
                                  "month", {"a": "进入意向", "b": "成交"}, title="各月新增客户的转化率",
                                  xlabel="首次接触月份", ylabel="占比", value_format="percent"),
    }
    fonts = {}
    for name, ax in drawn.items():
        ax.figure.savefig(out / f"{name}.png")
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            texts += legend.get_texts()
        fonts[name] = sorted({font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
                              for text in texts if any(ord(char) > 0x2E80 for char in text.get_text())})
    print(json.dumps({"family": family, "fonts": fonts,
                      "lookup": font_manager.findfont(font_manager.FontProperties(family=family))}))
""")


def test_chinese_renders_with_the_bundled_font_on_a_fresh_machine(tmp_path):
    config = tmp_path / "mplconfig"
    config.mkdir()
    out = tmp_path / "png"
    out.mkdir()
    env = {**os.environ, "MPLCONFIGDIR": str(config), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-W", "error", "-c", FRESH_MACHINE, str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Glyph" not in result.stderr and "missing from font" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    bundled = str(charts.FONT_PATH)
    assert report["family"] == charts.FONT_FAMILY
    assert report["lookup"] == bundled
    for name, fonts in report["fonts"].items():
        assert fonts == [bundled], f"{name}: Chinese drawn with {fonts}"
    for name in ("bar", "barh", "line", "heatmap", "compare"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 5_000, name


def test_bundled_font_and_its_licence_are_package_data():
    assert charts.FONT_PATH.is_file()
    assert charts.FONT_PATH.parent == ROOT / "analytics" / "fonts"
    licence = (charts.FONT_PATH.parent / "LICENSE-wqy-microhei.txt").read_text(encoding="utf-8")
    assert "Apache License" in licence and "WenQuanYi" in licence
    assert '"analytics" = ["fonts/*"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _charts():
    charts.setup()
    yield
    plt.close("all")


def _ticks(ax, axis):
    ax.figure.canvas.draw()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label.get_text() for label in labels if label.get_text()]


def _no_column_names(ax, frame):
    names = {str(name) for name in [*frame.columns, frame.index.name, frame.columns.name] if name is not None}
    names |= {"series", "value"}  # the long form compare() draws from
    shown = {ax.get_xlabel(), ax.get_ylabel()}
    legend = ax.get_legend()
    if legend is not None:
        shown |= {legend.get_title().get_text(), *(text.get_text() for text in legend.get_texts())}
    assert not shown & names, shown & names


SEGMENTS = pd.DataFrame({"segment": ["重要价值客户", "一般保持客户", "流失客户"], "customers": [120, 4_800, 30_000],
                         "revenue_share": [0.52, 0.30, 0.18], "revenue": [1_234_567.0, 45_678.0, 999.0]})


def test_bar_leaves_axis_titles_empty_and_shows_percentages():
    ax = charts.bar(SEGMENTS, "segment", "revenue_share", value_format="percent")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("", "")
    ticks = _ticks(ax, "y")
    assert ticks and all(tick.endswith("%") for tick in ticks), ticks
    assert "50%" in ticks or "50.0%" in ticks
    _no_column_names(ax, SEGMENTS)


def test_bar_takes_chinese_axis_titles():
    ax = charts.bar(SEGMENTS, "segment", "revenue_share", xlabel="客户分群", ylabel="收入占比", value_format="percent")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("客户分群", "收入占比")


def _money_tick_ok(tick, currency="¥"):
    assert tick.startswith(currency), tick
    amount = float(tick[len(currency):].replace(",", ""))
    if amount >= 1_000:
        assert "," in tick, tick
        assert all(len(group) == 3 for group in tick.split(",")[1:]), tick


def test_money_ticks_have_the_currency_and_thousands_separators():
    ax = charts.bar(SEGMENTS, "segment", "revenue", value_format="money")
    ticks = _ticks(ax, "y")
    assert len(ticks) >= 3
    for tick in ticks:
        _money_tick_ok(tick)
    assert "¥1,000,000" in ticks, ticks
    _no_column_names(ax, SEGMENTS)


def test_horizontal_bar_formats_the_value_axis_along_x():
    ax = charts.bar(SEGMENTS, "segment", "revenue", horizontal=True, value_format="money", currency="HK$")
    for tick in _ticks(ax, "x"):
        _money_tick_ok(tick, "HK$")
    assert set(_ticks(ax, "y")) == set(SEGMENTS["segment"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("", "")


def test_count_ticks_have_thousands_separators_and_no_decimals():
    ax = charts.bar(SEGMENTS, "segment", "customers", value_format="count")
    ticks = _ticks(ax, "y")
    assert any("," in tick for tick in ticks), ticks
    assert not any("." in tick for tick in ticks), ticks
    assert all(float(tick.replace(",", "")) < 1_000 or "," in tick for tick in ticks)


def test_line_formats_both_axes_as_shares():
    curve = pd.DataFrame({"top_share": [0.0, 0.2, 0.5, 1.0], "revenue_share": [0.0, 0.6, 0.85, 1.0]})
    ax = charts.line(curve, "top_share", "revenue_share", marker="o", value_format="percent", x_format="percent")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("", "")
    for axis in "xy":
        ticks = _ticks(ax, axis)
        assert ticks and all(tick.endswith("%") for tick in ticks), ticks
        assert "100%" in ticks
    _no_column_names(ax, curve)


def test_line_legend_has_no_column_title():
    days = pd.DataFrame({"days": [0, 30, 60, 0, 30, 60], "cumulative_share": [0, 0.2, 0.3, 0, 0.1, 0.2],
                         "cohort": ["新客户"] * 3 + ["老客户"] * 3})
    ax = charts.line(days, "days", "cumulative_share", hue="cohort", value_format="percent", xlabel="首购后天数")
    assert ax.get_legend().get_title().get_text() == ""
    assert ax.get_xlabel() == "首购后天数" and ax.get_ylabel() == ""
    _no_column_names(ax, days)


def test_heatmap_hides_index_and_column_names_unless_given():
    flow = pd.DataFrame([[0.5, 0.5], [0.2, 0.8]], index=pd.Index(["新客户", "活跃客户"], name="stage"),
                        columns=pd.Index(["新客户", "活跃客户"], name="status"))
    ax = charts.heatmap(flow)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("", "")
    assert [text.get_text() for text in ax.texts] == ["50%", "50%", "20%", "80%"]
    colorbar = ax.collections[0].colorbar
    colorbar.ax.figure.canvas.draw()
    assert all(label.get_text().endswith("%") for label in colorbar.ax.get_yticklabels() if label.get_text())
    plt.close("all")
    ax = charts.heatmap(flow, xlabel="统计日期的阶段", ylabel="对比日期的阶段", fmt=".2f")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("统计日期的阶段", "对比日期的阶段")


def test_compare_has_chinese_legend_without_title_and_no_column_label():
    trend = pd.DataFrame({"month": ["2024-01", "2024-02", "2024-03"], "intent": [0.1, 0.2, 0.3],
                          "won": [0.05, 0.1, 0.2]})
    ax = charts.compare(trend, "month", {"intent": "进入意向", "won": "成交"}, value_format="percent")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == ""
    assert [text.get_text() for text in legend.get_texts()] == ["进入意向", "成交"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("", "")
    assert all(tick.endswith("%") for tick in _ticks(ax, "y"))
    _no_column_names(ax, trend)


def test_existing_positional_calls_still_work():
    ax = charts.compare(SEGMENTS, "segment", {"revenue_share": "收入占比"}, "标题", "客户分群", "占比", (6, 3))
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("标题", "客户分群", "占比")
    ax = charts.bar(SEGMENTS, "segment", "customers", "客户数", True, (6, 3))
    assert ax.get_title() == "客户数" and ax.get_xlabel() == ""


def test_unknown_value_format_is_refused():
    with pytest.raises(ValueError, match="value_format"):
        charts.bar(SEGMENTS, "segment", "revenue", value_format="yuan")
