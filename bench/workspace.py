"""Where the benchmarks keep their generated data and results, the key they seal fields with, and
how they write their tables into docs/benchmarks.md.  Imports nothing of the app, so a benchmark
that measures a process without Flask (an import as the worker runs it) stays without it."""
import base64
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")
FIELD_KEY = base64.b64encode(b"bench-field-key-0123456789abcdef").decode()


def write_docs(markdown, section="list_page"):
    """Put `markdown` between the section's markers in docs/benchmarks.md (appended the first time)."""
    path = os.path.join(os.path.dirname(HERE), "docs", "benchmarks.md")
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n\n"
    block = f"{begin}\n{markdown}\n{end}"
    if begin in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def scoped_url(url, schema):
    """`url` (postgresql://...) with its search_path set to a benchmark's scratch `schema`, then public (pg_trgm)."""
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}%2Cpublic"


def pg_autocommit(url):
    """A psycopg2 connection in autocommit, for a benchmark's DDL (its scratch schemas)."""
    import psycopg2

    con = psycopg2.connect(url)
    con.autocommit = True
    return con
