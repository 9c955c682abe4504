"""A Handout, or a notebook report's HTML, as a page made for printing on A4.

The page carries its own print rules (PRINT_CSS): A4 with margins, the project's CJK font
(analytics/fonts, by file URL: no system font needed), a table header that repeats on every page
(thead as a table-header-group) and rows that are never cut across two pages.  exports.engines turns
the page into PDF.
"""
import base64
import html
import re

from analytics.charts import FONT_FAMILY, FONT_PATH

from .document import shown

PRINT_CSS = """
@font-face { font-family: "CRM Print"; src: url("%(font_url)s"); }
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
        @bottom-center { content: "第 " counter(page) " 页，共 " counter(pages) " 页"; font-size: 8pt; color: #666; } }
html, body { font-family: "CRM Print", "%(family)s", sans-serif !important; }
body { font-size: 9.5pt; color: #222; margin: 0; }
h1 { font-size: 16pt; margin: 0 0 4pt 0; }
h2 { font-size: 12pt; margin: 14pt 0 4pt 0; }
p.note { margin: 0 0 2pt 0; color: #555; }
table { border-collapse: collapse; width: 100%%; margin: 6pt 0; }
thead { display: table-header-group; }
tr, img { break-inside: avoid; page-break-inside: avoid; }
h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
th { background: #eef2f7; font-weight: bold; }
th, td { border: 0.5pt solid #bbb; padding: 2pt 4pt; text-align: left; }
td.num, th.num { text-align: right; }
img.chart { max-width: 100%%; display: block; margin: 8pt auto; }
"""


def font_url():
    return FONT_PATH.as_uri()


def print_css():
    return PRINT_CSS % {"font_url": font_url(), "family": FONT_FAMILY}


def _table_html(table):
    head = "".join(f'<th class="{"num" if c.numeric else ""}">{html.escape(c.label)}</th>' for c in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(f'<td class="{"num" if c.numeric else ""}">{html.escape(shown(v, c.kind))}</td>'
                        for c, v in zip(table.columns, row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image_html(png):
    return f'<img class="chart" alt="图表" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def handout_html(handout, chart=None):
    """The printable page of `handout`; `chart` is its chart as PNG bytes (exports.picture.chart_png)."""
    parts = [f"<h1>{html.escape(handout.title)}</h1>"]
    parts += [f'<p class="note">{html.escape(str(note))}</p>' for note in handout.notes]
    if handout.summary.title:
        parts.append(f"<h2>{html.escape(handout.summary.title)}</h2>")
    parts.append(_table_html(handout.summary))
    for png in ([chart] if chart else []) + list(handout.images):
        parts.append(_image_html(png))
    for table in handout.extra:
        if table.title:
            parts.append(f"<h2>{html.escape(table.title)}</h2>")
        parts += [f'<p class="note">{html.escape(str(note))}</p>' for note in table.notes]
        parts.append(_table_html(table))
    if handout.detail is not None:
        parts.append(f"<h2>{html.escape(handout.detail.title or '明细')}</h2>")
        parts += [f'<p class="note">{html.escape(str(note))}</p>' for note in handout.detail.notes]
        parts.append(_table_html(handout.detail))
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{html.escape(handout.title)}</title><style>{print_css()}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S | re.I)


def report_html(text):
    """A notebook report's HTML (reporting.runner.write_html) made for print: its scripts removed (they
    load from CDNs, and a printed report has no use for them) and the print rules added last, so they win."""
    text = _SCRIPT.sub("", text)
    extra = (f"<style>{print_css()}"
             # nbconvert's page is a screen layout: full width, no shadows, wide tables may shrink
             ".jp-Notebook, .jp-Cell, .jp-OutputArea-output { padding: 0 !important; overflow: visible !important; }"
             ".jp-OutputPrompt, .jp-InputPrompt { display: none !important; }"
             "body { background: white !important; }"
             "</style>")
    if "</head>" in text:
        return text.replace("</head>", extra + "</head>", 1)
    return extra + text
