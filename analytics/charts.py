"""Small seaborn helpers for the notebooks; each returns the matplotlib Axes it drew on.

Charts are read by people, so no column name ever reaches an axis or a legend: axis titles are the
Chinese `xlabel`/`ylabel` given by the caller and are left empty otherwise, and the value axis can be
formatted (`value_format`):

- ``"percent"``: fractions 0–1 shown as 0 %–100 % (``20%``);
- ``"money"``: ``¥1,234,567`` (`currency` sets the symbol; no 万, always the full amount);
- ``"count"``: ``1,234,567``;
- ``None``: matplotlib's default ticks.

`setup()` registers the bundled CJK font (WenQuanYi Micro Hei, analytics/fonts/) by file path, so
Chinese renders without any system font and whatever matplotlib's font cache holds.
"""
import math
import pathlib

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib import font_manager, ticker

FONT_PATH = pathlib.Path(__file__).resolve().parent / "fonts" / "wqy-microhei.ttc"
FONT_FAMILY = "WenQuanYi Micro Hei"
VALUE_FORMATS = (None, "percent", "money", "count")


def register_font():
    """Register the bundled font with matplotlib by path and return its family name.

    Entries of the same families from anywhere else (a system copy found when the font cache was
    built) are dropped first, so a lookup of the family can only land on the bundled file."""
    manager = font_manager.fontManager
    manager.ttflist = [entry for entry in manager.ttflist if not entry.name.startswith(FONT_FAMILY)]
    manager.addfont(str(FONT_PATH))  # also clears findfont's cache
    return FONT_FAMILY


def setup():
    """Seaborn's theme with the bundled CJK font as the first sans-serif family; returns its name."""
    sns.set_theme(style="whitegrid")
    family = register_font()
    others = [name for name in matplotlib.rcParams["font.sans-serif"] if name != family]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [family] + others
    matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus glyph
    return family


class _Number(ticker.Formatter):
    """Thousands separators and an optional prefix (``¥``), with as few decimals as the ticks need
    (at most two), the same number for every tick of an axis."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.decimals = 0

    def set_locs(self, locs):
        super().set_locs(locs)
        ticks = [value for value in locs if math.isfinite(value)]
        self.decimals = next((decimals for decimals in range(2) if all(
            abs(value - round(value, decimals)) < 1e-9 * max(1.0, abs(value)) for value in ticks)), 2)

    def __call__(self, value, pos=None):
        text = f"{abs(value):,.{self.decimals}f}"
        sign = "-" if value < 0 and text.strip("0.,") else ""
        return f"{sign}{self.prefix}{text}"


def formatter(value_format, currency="¥"):
    """The tick formatter for a `value_format` (see the module's docstring), or None for the default."""
    if value_format is None:
        return None
    if value_format == "percent":
        return ticker.PercentFormatter(xmax=1)
    if value_format == "money":
        return _Number(prefix=currency)
    if value_format == "count":
        return _Number()
    raise ValueError(f"value_format must be one of {VALUE_FORMATS}, not {value_format!r}")


def _format_axis(axis, value_format, currency):
    tick_format = formatter(value_format, currency)
    if tick_format is not None:
        axis.set_major_formatter(tick_format)


def _axes(title, figsize):
    _, ax = plt.subplots(figsize=figsize, layout="constrained")  # room for the labels, however saved
    if title:
        ax.set_title(title)
    return ax


def _labels(ax, xlabel, ylabel):
    """Axis titles as given, empty otherwise (seaborn would write the column names there)."""
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")


def _untitled_legend(ax):
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title(None)


def bar(data, x, y, title=None, horizontal=False, figsize=(8, 4), xlabel=None, ylabel=None, value_format=None,
        currency="¥"):
    """Bars of `y` per category in `x`. `xlabel`/`ylabel` title the horizontal/vertical axis as drawn,
    so with ``horizontal=True`` the values are along x (`xlabel`, formatted by `value_format`)."""
    ax = _axes(title, figsize)
    if horizontal:
        sns.barplot(data=data, x=y, y=x, ax=ax, color=sns.color_palette()[0])
        _format_axis(ax.xaxis, value_format, currency)
    else:
        sns.barplot(data=data, x=x, y=y, ax=ax, color=sns.color_palette()[0])
        ax.tick_params(axis="x", labelrotation=30)
        _format_axis(ax.yaxis, value_format, currency)
    _labels(ax, xlabel, ylabel)
    return ax


def heatmap(frame, title=None, fmt=".0%", figsize=(9, 6), xlabel=None, ylabel=None, value_format=None, currency="¥",
            **kwargs):
    """A table of numbers as coloured cells, annotated with `fmt`. `xlabel` titles the columns, `ylabel`
    the rows; the frame's index and column names are never shown. The colour bar follows
    `value_format`, or shows percentages when `fmt` does."""
    ax = _axes(title, figsize)
    sns.heatmap(frame.astype(float), annot=kwargs.pop("annot", True), fmt=fmt, cmap=kwargs.pop("cmap", "Blues"),
                ax=ax, **kwargs)
    ax.grid(False)  # the whitegrid theme's lines would cross the cells
    ax.tick_params(axis="y", labelrotation=0)  # seaborn stands row labels on end; Chinese reads across
    _labels(ax, xlabel, ylabel)
    if value_format is None and fmt.endswith("%"):
        value_format = "percent"
    colorbar = ax.collections[0].colorbar if ax.collections else None
    if colorbar is not None:
        _format_axis(colorbar.ax.yaxis, value_format, currency)
    return ax


def line(data, x, y, title=None, figsize=(8, 4), xlabel=None, ylabel=None, value_format=None, x_format=None,
         currency="¥", **kwargs):
    """`y` against `x`; `value_format` formats y and `x_format` x (e.g. both "percent" for a Pareto
    curve of shares). Other keywords go to seaborn.lineplot; a `hue` legend has no title."""
    ax = _axes(title, figsize)
    sns.lineplot(data=data, x=x, y=y, ax=ax, **kwargs)
    _format_axis(ax.yaxis, value_format, currency)
    _format_axis(ax.xaxis, x_format, currency)
    _labels(ax, xlabel, ylabel)
    _untitled_legend(ax)
    return ax


def compare(data, x, columns, title=None, xlabel=None, ylabel=None, figsize=(8, 4), value_format=None, currency="¥"):
    """Several columns of `data` over the categories in `x`, one line each, e.g. actual beside
    predicted.  `columns` maps each column to its legend label; `value_format` formats y."""
    long = data.melt(id_vars=[x], value_vars=list(columns), var_name="series", value_name="value")
    long["series"] = long["series"].map(columns)
    ax = _axes(title, figsize)
    sns.pointplot(data=long, x=x, y="value", hue="series", ax=ax, markers="o")
    _format_axis(ax.yaxis, value_format, currency)
    _labels(ax, xlabel, ylabel)
    ax.legend(title=None)
    _thin_labels(ax)
    return ax


def _thin_labels(ax, most=12):
    """Label at most `most` categories on the x axis (three years of months would overlap)."""
    labels = ax.get_xticklabels()
    step = -(-len(labels) // most)  # ceiling division
    if step > 1:
        for index, label in enumerate(labels):
            label.set_visible(index % step == 0)
