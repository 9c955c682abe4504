"""The analysis notebooks run under papermill against a real database, as the report runner will.

The kernel is a separate process that inherits os.environ, so each test points DATABASE_URL and
FIELD_KEY at the `app` fixture's database before executing; the kernel then opens it through
analytics.session.connect() exactly as it would in production.
"""
import base64
import datetime
import json
import os
import pathlib

import nbformat
import papermill
import pytest

import delivery
import models
from analytics import lifecycle, privacy

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
            text.append(output.get("text", "") or "".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


@pytest.fixture
def generated(app):
    import demo

    with app.app_context():
        demo.generate(customers=300, seed=3, password="x")
    return app


@pytest.mark.parametrize("name", ["lifecycle.ipynb", "value.ipynb"])
def test_customer_lists_follow_the_runners_column_rules(generated, monkeypatch, tmp_path, name):
    """A role that may not read names sees none, and masked codes only, in the report's customer lists."""
    with generated.app_context():
        customers = list(models.Customer.select(models.Customer.code, models.Customer.name).tuples())
    output = _execute(generated, monkeypatch, tmp_path, name, top_n=50, churn_days=60,
                      column_access={"code": "masked", "name": "hidden"})
    assert "*******" in output, "masked codes are listed"
    leaked = [value for code, name_ in customers for value in (code, name_) if value in output]
    assert not leaked, f"clear customer codes or names in the report: {leaked[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_generated_data(generated, monkeypatch, tmp_path, name):
    output = _execute(generated, monkeypatch, tmp_path, name, suppress_below=5, top_n=5)
    assert NO_DATA not in output
    summary = dict(delivery.read_summary(str(tmp_path / name)))
    assert int(summary["有购买记录的客户"].replace(",", "")) > 0, "the key numbers a subscription mail shows"
    if name == "value.ipynb":
        assert "BGNBD_PARAMS=" in output
        assert "检验期 26 周" in output and "检验期实际平均购买次数" in output
        assert "无法进行模型检验" not in output
    if name == "segmentation.ipynb":
        assert "k-means" not in output and "轮廓系数" not in output  # clusters = 0 skips


def test_segmentation_clusters_by_silhouette(generated, monkeypatch, tmp_path):
    output = _execute(generated, monkeypatch, tmp_path, "segmentation.ipynb", clusters=1, suppress_below=5)
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
    output = _execute(generated, monkeypatch, tmp_path, "segmentation.ipynb", owner_ids=[])
    assert NO_DATA in output


def _params(output, prefix):
    line = next(line for line in output.splitlines() if line.startswith(prefix))
    return json.loads(line[len(prefix):])


def test_value_notebook_reproduces_cdnow(app, monkeypatch, tmp_path):
    from intake.cdnow import load_cdnow

    with app.app_context():
        load_cdnow()
    output = _execute(app, monkeypatch, tmp_path, "value.ipynb", as_of="1997-09-30", horizon_months=[12])
    bgnbd, gg = _params(output, "BGNBD_PARAMS="), _params(output, "GG_PARAMS=")
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
