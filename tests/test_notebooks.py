"""The analysis notebooks run under papermill against a real database, as the report runner will.

The kernel is a separate process that inherits os.environ, so each test points DATABASE_URL and
FIELD_KEY at the `app` fixture's database before executing; the kernel then opens it through
analytics.session.connect() exactly as it would in production.
"""
import base64
import datetime
import html
import math
import os
import pathlib
import re

import nbformat
import papermill
import peewee
import pytest

import delivery
import models
from analytics import lifecycle, privacy
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from reporting import outputs

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
SHARED = {"as_of", "start", "regions", "industries", "tag", "owner_ids", "suppress_below", "column_access", "top_n",
          "currency"}
NO_DATA = "所选范围内没有订单数据"


def test_there_are_notebooks():
    assert {"segmentation.ipynb", "lifecycle.ipynb", "value.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs_and_one_parameters_cell(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is None and cell.outputs == [] for cell in code)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "SELECT" not in "".join(cell.source.upper() for cell in code)  # no SQL in notebooks


# What reads the database from a notebook (analytics.session.connect only binds, it reads nothing).
DATABASE_READS = ("queries.", "session.customer_labels(", "session.snapshot(")
# What draws or shows results; a `data` cell only loads.
PRESENTATION = ("charts.", "display(", "print(", "Markdown(")


@pytest.mark.parametrize("name", NAMES)
def test_database_reads_are_in_cells_tagged_data_and_only_there(name):
    # The benchmarks sum papermill's per-cell durations by tag, so every read must be in a
    # `data` cell and a `data` cell must hold nothing but reads.
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    data = [cell for cell in code if "data" in cell.metadata.get("tags", [])]
    assert data, "no cell is tagged data"
    for cell in code:
        reads = any(read in cell.source for read in DATABASE_READS)
        assert reads == (cell in data), f"{'untagged read' if reads else 'data cell without a read'}:\n{cell.source}"
    for cell in data:
        assert cell.metadata["tags"] == ["data"]
        assert not [word for word in PRESENTATION if word in cell.source], cell.source
    # Nothing but the parameters and data cells carries tags.
    tags = {tuple(cell.metadata.get("tags", [])) for cell in code}
    assert tags <= {(), ("parameters",), ("data",)}


@pytest.mark.parametrize("name", NAMES)
def test_shared_parameters_are_declared(name):
    assert SHARED <= set(papermill.inspect_notebook(str(NOTEBOOKS / name)))


@pytest.mark.parametrize("name", NAMES)
def test_the_texts_readers_see_name_no_parameters_or_code(name):
    """Markdown is read by managers: no parameter names (as_of, churn_days, ...) and no code paths."""
    parameters = set(papermill.inspect_notebook(str(NOTEBOOKS / name)))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            assert "`" not in cell.source and ".py" not in cell.source, cell.source
            found = [word for word in re.findall(r"[A-Za-z_]+", cell.source) if word in parameters]
            assert not found, (found, cell.source)


def _execute(app, monkeypatch, tmp_path, name, **parameters):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("FIELD_KEY", app.config["FIELD_KEY"])
    models.db.close()  # let the kernel's connection have the SQLite file to itself while it writes nothing
    result = papermill.execute_notebook(
        str(NOTEBOOKS / name), str(tmp_path / name), parameters=parameters,
        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
    )
    text = []
    for cell in result.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text.append(output.get("text", "") or "".join(data.get("text/html", "") or data.get("text/plain", "")))
    return "\n".join(text)


AS_OF = REFERENCE_DAY.isoformat()  # every run on generated data looks at the day the data was generated for


@pytest.fixture
def generated(app):
    import demo

    with app.app_context():
        demo.generate(customers=300, seed=3, password="x", now=REFERENCE_NOW)
    return app


@pytest.mark.parametrize("name", ["lifecycle.ipynb", "value.ipynb"])
def test_customer_lists_follow_the_runners_column_rules(generated, monkeypatch, tmp_path, name):
    """A role that may not read names sees none, and masked codes only, in the report's customer lists."""
    with generated.app_context():
        customers = list(models.Customer.select(models.Customer.code, models.Customer.name).tuples())
    output = _execute(generated, monkeypatch, tmp_path, name, as_of=AS_OF, top_n=50, churn_days=60,
                      column_access={"code": "masked", "name": "hidden"})
    assert "*******" in output, "masked codes are listed"
    leaked = [value for code, name_ in customers for value in (code, name_) if value in output]
    assert not leaked, f"clear customer codes or names in the report: {leaked[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_generated_data(generated, monkeypatch, tmp_path, name):
    output = _execute(generated, monkeypatch, tmp_path, name, as_of=AS_OF, suppress_below=5, top_n=5)
    assert NO_DATA not in output
    summary = dict(delivery.read_summary(str(tmp_path / name)))
    assert int(summary["有购买记录的客户"].replace(",", "")) > 0, "the key numbers a subscription mail shows"
    assert outputs.key_chart(tmp_path / name), "the key chart for the mail"
    if name == "value.ipynb":
        _assert_value_models(outputs.results(tmp_path / name)["value_models"])
        assert "检验期 26 周" in output and "检验期实际平均购买次数" in output
        assert "无法进行模型检验" not in output
    if name == "segmentation.ipynb":
        assert "k-means" not in output and "轮廓系数" not in output  # clusters = 0 skips


def _assert_value_models(fitted):
    """Both models' parameters recorded, finite and positive, with how they were estimated."""
    for kind, names in (("bgnbd", ("r", "alpha", "a", "b")), ("gamma_gamma", ("p", "q", "v"))):
        for parameter in names:
            assert math.isfinite(fitted[kind][parameter]) and fitted[kind][parameter] > 0, (kind, parameter)
        assert fitted[kind]["method"] in ("mle", "penalized")


# Names from the code that a reader must never see as a header or in a sentence.
RAW_NAMES = ("customer_id", "tier", "revenue_share", "top_share", "customers", "customer_share", "status", "segment",
             "stage", "frequency_cal", "recency_days", "purchase_days", "avg_order_value", "clv_share", "p_alive",
             "cumulative_share", "cohort_month", "cohort_size", "monetary_value", "revenue", "orders", "actual",
             "predicted", "month", "days", "code", "name", "clv")
RAW_WORD = re.compile(r"(?<![A-Za-z_])(" + "|".join(RAW_NAMES) + r")(?![A-Za-z_])")


def _reader_problems(path):
    """What a business reader would trip over in an executed notebook: output that is not for them
    (stderr, errors, an expression's stray value), raw names in table headers or printed text, and
    missing values shown as nan or <NA>."""
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for output in cell.get("outputs", []):
            kind, data = output.get("output_type"), output.get("data", {})
            if kind == "stream" and output.get("name") == "stderr":
                problems.append(f"cell {index}: stderr {output.get('text', '')[:200]!r}")
            elif kind == "error":
                problems.append(f"cell {index}: error {output.get('ename')}: {output.get('evalue')}")
            elif kind == "execute_result" and set(data) <= {"text/plain"}:
                problems.append(f"cell {index}: stray value {data.get('text/plain', '')[:100]!r}")
            elif kind == "stream":
                text = "".join(line for line in output.get("text", "").splitlines(keepends=True)
                               if not line.startswith(outputs.SUMMARY_PREFIX))
                problems += [f"cell {index}: printed {word!r}" for word in RAW_WORD.findall(text)]
            if kind == "display_data" and "text/html" in data:
                page = "".join(data["text/html"])
                for header in re.findall(r"<th[^>]*>(.*?)</th>", page, flags=re.S):
                    header = html.unescape(re.sub(r"<[^>]+>", "", header)).strip()
                    if RAW_WORD.search(header) or re.fullmatch(r"[a-z_][a-z0-9_]*", header):
                        problems.append(f"cell {index}: header {header!r}")
                for cell_text in re.findall(r"<td[^>]*>(.*?)</td>", page, flags=re.S):
                    if html.unescape(cell_text).strip() in ("nan", "NaN", "<NA>", "None", "NaT"):
                        problems.append(f"cell {index}: missing value shown as {cell_text!r}")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_reports_read_as_a_business_reader_sees_them(generated, monkeypatch, tmp_path, name):
    """No warnings, tracebacks or stray values in the output, no code names in headers or sentences."""
    _execute(generated, monkeypatch, tmp_path, name, as_of=AS_OF, suppress_below=5, top_n=5,
             **({"clusters": 1} if name == "segmentation.ipynb" else {}))
    assert _reader_problems(tmp_path / name) == []


def test_the_reader_check_notices_what_it_looks_for(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: ..."),
        nbformat.v4.new_output("execute_result", data={"text/plain": "True"}, execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="共 3 位 customers\nSUMMARY={\"customers\": 3}\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><th>segment</th><th>客户数</th>"
                                                                  "<th>frequency_x</th></tr><tr><td>nan</td></tr></table>",
                                                     "text/plain": "..."}),
    ])])
    nbformat.write(notebook, tmp_path / "bad.ipynb")
    problems = _reader_problems(tmp_path / "bad.ipynb")
    assert len(problems) == 6, problems  # stderr, stray value, printed word, two headers, nan


@pytest.mark.parametrize("name", NAMES)
def test_an_as_of_before_any_order_is_said(generated, monkeypatch, tmp_path, name):
    with generated.app_context():
        first = models.Order.select(peewee.fn.MIN(models.Order.ordered_at)).scalar()
    first = first if isinstance(first, datetime.datetime) else datetime.datetime.fromisoformat(str(first))
    output = _execute(generated, monkeypatch, tmp_path, name, as_of="2019-01-01")
    assert f"截止日期 2019-01-01 之前没有订单数据，最早的订单在 {first.date()}。" in output
    assert _reader_problems(tmp_path / name) == []


def test_a_start_after_as_of_is_said(generated, monkeypatch, tmp_path):
    output = _execute(generated, monkeypatch, tmp_path, "value.ipynb", as_of=AS_OF, start="2027-01-01")
    assert f"起始日期 2027-01-01 晚于截止日期 {AS_OF}" in output
    assert _reader_problems(tmp_path / "value.ipynb") == []


def test_value_report_on_demo_data_of_another_day(app, monkeypatch, tmp_path):
    """The outcome does not hang on the reference day: demo data generated for another fixed day,
    looked at on that day, gives fitted models, published results, key numbers and a key chart."""
    import demo

    day = datetime.date(2025, 6, 1)
    with app.app_context():
        demo.generate(customers=300, seed=3, password="x", now=datetime.datetime.combine(day, datetime.time()))
    output = _execute(app, monkeypatch, tmp_path, "value.ipynb", as_of=day.isoformat(), suppress_below=5, top_n=5)
    assert NO_DATA not in output and "数据不足" not in output
    _assert_value_models(outputs.results(tmp_path / "value.ipynb")["value_models"])
    summary = dict(delivery.read_summary(str(tmp_path / "value.ipynb")))
    assert int(summary["有购买记录的客户"].replace(",", "")) > 0 and "CLV 合计（12 个月）" in summary
    assert outputs.key_chart(tmp_path / "value.ipynb")
    assert _reader_problems(tmp_path / "value.ipynb") == []


def test_segmentation_clusters_by_silhouette(generated, monkeypatch, tmp_path):
    output = _execute(generated, monkeypatch, tmp_path, "segmentation.ipynb", as_of=AS_OF, clusters=1,
                      suppress_below=5)
    assert "按轮廓系数在 2–8 类中选出" in output and "平均消费金额" in output
    assert "无法聚类" not in output


def test_too_little_data_for_the_diagnostics_and_clusters_is_said_not_raised(app, make_customer, make_order,
                                                                             monkeypatch, tmp_path):
    customer = make_customer()
    for day in (1, 2):
        make_order(customer, ordered_at=datetime.datetime(2024, 5, day))
    # Ten weeks before 2024-06-30 is 2024-04-21: every purchase falls in the holdout.
    value = _execute(app, monkeypatch, tmp_path, "value.ipynb", as_of="2024-06-30", holdout_weeks=10)
    assert "无法进行模型检验：校准期内没有购买记录" in value
    segmentation = _execute(app, monkeypatch, tmp_path, "segmentation.ipynb", as_of="2024-06-30", clusters=3)
    assert "无法聚类：客户数（1）不足以分成 3 类" in segmentation


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_selection_says_so(app, monkeypatch, tmp_path, name):
    output = _execute(app, monkeypatch, tmp_path, name)
    assert NO_DATA in output


def test_owner_scope_with_nobody_is_empty(generated, monkeypatch, tmp_path):
    output = _execute(generated, monkeypatch, tmp_path, "segmentation.ipynb", as_of=AS_OF, owner_ids=[])
    assert NO_DATA in output


def test_value_notebook_reproduces_cdnow(app, monkeypatch, tmp_path):
    from intake.cdnow import load_cdnow

    with app.app_context():
        load_cdnow()
    _execute(app, monkeypatch, tmp_path, "value.ipynb", as_of="1997-09-30", horizon_months=[12])
    fitted = outputs.results(tmp_path / "value.ipynb")["value_models"]
    bgnbd, gg = fitted["bgnbd"], fitted["gamma_gamma"]
    # The published anchor is the maximum likelihood estimate, not a penalised one.
    assert bgnbd["method"] == "mle" and gg["method"] == "mle"
    # Tolerances as in tests/test_cdnow_anchor.py.
    assert bgnbd["r"] == pytest.approx(0.243, abs=0.002)
    assert bgnbd["alpha"] == pytest.approx(4.414, abs=0.005)
    assert bgnbd["a"] == pytest.approx(0.793, abs=0.002)
    assert bgnbd["b"] == pytest.approx(2.426, abs=0.005)
    assert gg["p"] == pytest.approx(6.25, abs=0.02)
    assert gg["q"] == pytest.approx(3.74, abs=0.02)
    assert gg["v"] == pytest.approx(15.44, abs=0.02)


def test_suppress_small_hides_every_number_of_small_rows():
    import pandas as pd

    table = pd.DataFrame({"customers": [2, 10], "revenue": [50.0, 900.0], "label": ["a", "b"]})
    shown = privacy.suppress_small(table, "customers", 5)
    assert shown.iloc[0].tolist() == ["—", "—", "a"]
    assert shown.iloc[1].tolist() == [10, 900.0, "b"]
    assert privacy.suppress_small(table, "customers", 0) is table


def test_lifecycle_stages_follow_the_documented_rule():
    import pandas as pd

    day = pd.Timestamp("2024-06-30")
    first = pd.to_datetime(["2024-06-01", "2023-01-01", "2023-01-01", "2023-01-01", "2024-03-01"])
    last = pd.to_datetime(["2024-06-20", "2024-06-01", "2024-02-01", "2023-06-01", "2024-03-01"])
    summary = pd.DataFrame({"first_purchase": first, "last_purchase": last,
                            "recency_days": (day - last).days, "revenue": [1.0] * 5},
                           index=pd.Index([1, 2, 3, 4, 5], name="customer_id"))
    # 1: first bought 29 days ago -> new; 2: bought 29 days ago, long-standing -> active;
    # 3: silent 150 days (>= 90) -> at risk; 4: silent 395 days (>= 180) -> churned;
    # 5: bought once 121 days ago: silence beats newness -> at risk.
    assert lifecycle.stages(summary, churn_days=180).tolist() == [
        "新客户", "活跃客户", "流失风险客户", "已流失客户", "流失风险客户"]
    assert lifecycle.stage_counts(lifecycle.stages(summary)).tolist() == [1, 1, 2, 1]
    risk = lifecycle.churn_risk(summary, pd.Series([0.9, 0.9, 0.2, 0.1, 0.5], index=summary.index))
    assert risk.index.tolist() == [3, 5]
