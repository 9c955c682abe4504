"""Small seaborn helpers for the notebooks; each returns the matplotlib Axes it drew on."""
import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib import font_manager

# Fonts that can draw Chinese labels, best first; Debian's fonts-wqy-microhei provides the first.
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei", "Microsoft YaHei")


def setup():
    """Theme plus a CJK-capable font when one is installed (otherwise keep the default silently)."""
    sns.set_theme(style="whitegrid")
    installed = {font.name for font in font_manager.fontManager.ttflist}
    available = [name for name in CJK_FONTS if name in installed]
    if available:
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["font.sans-serif"] = available + list(matplotlib.rcParams["font.sans-serif"])
    matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus glyph
    return available[0] if available else None


def _axes(title, figsize):
    _, ax = plt.subplots(figsize=figsize)
    if title:
        ax.set_title(title)
    return ax


def bar(data, x, y, title=None, horizontal=False, figsize=(8, 4)):
    ax = _axes(title, figsize)
    if horizontal:
        sns.barplot(data=data, x=y, y=x, ax=ax, color=sns.color_palette()[0])
    else:
        sns.barplot(data=data, x=x, y=y, ax=ax, color=sns.color_palette()[0])
        ax.tick_params(axis="x", labelrotation=30)
    return ax


def heatmap(frame, title=None, fmt=".0%", figsize=(9, 6), **kwargs):
    ax = _axes(title, figsize)
    sns.heatmap(frame.astype(float), annot=kwargs.pop("annot", True), fmt=fmt, cmap=kwargs.pop("cmap", "Blues"),
                ax=ax, **kwargs)
    ax.grid(False)  # the whitegrid theme's lines would cross the cells
    return ax


def line(data, x, y, title=None, figsize=(8, 4), **kwargs):
    ax = _axes(title, figsize)
    sns.lineplot(data=data, x=x, y=y, ax=ax, **kwargs)
    return ax


def compare(data, x, columns, title=None, xlabel=None, ylabel=None, figsize=(8, 4)):
    """Several columns of `data` over the categories in `x`, one line each, e.g. actual beside
    predicted.  `columns` maps each column to its legend label."""
    long = data.melt(id_vars=[x], value_vars=list(columns), var_name="series", value_name="value")
    long["series"] = long["series"].map(columns)
    ax = _axes(title, figsize)
    sns.pointplot(data=long, x=x, y="value", hue="series", ax=ax, markers="o")
    ax.set(xlabel=xlabel or x, ylabel=ylabel or "")
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
