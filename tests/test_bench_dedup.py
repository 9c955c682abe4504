"""bench.dedup on a tiny labelled set: the generator plants every kind and trap with its truth, the scan's
column-wise keys equal the one-record profile, both tools run on the same file and are scored, the docs
table is whole."""
import sqlite3

import pytest

from bench import dedup as bench
from bench.dedup_labels import PLANTED, TRAPS, generate, true_pairs
from dedup import profile as rules


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dedup") / "dedup_3000.db")
    return path, generate(path, 3000)


def test_the_set_plants_every_kind_and_trap(labelled):
    path, counts = labelled
    assert sum(counts.values()) == 3000 and set(PLANTED) | set(TRAPS) <= set(counts)
    assert len(true_pairs(path)) >= len(PLANTED)


def test_column_keys_equal_the_profile_of_each_record(labelled):
    path, _ = labelled
    con = sqlite3.connect(path)
    rows = con.execute("SELECT name, customer_type, contact, mobile, phone, email, address, id_number_digest "
                       "FROM customer").fetchall()
    con.close()
    rows += [("百度在线网络技术（北京）有限公司", "企业", "Ｗａｎｇ Wei", "+86 138-1234-5678", "(010) 6234-5678",
              " Li@HuaWei.com ", "北京市海淀区 上地十街10号", None),
             ("Huawei Technologies Co., Ltd.", "企业", "王 伟", "１３８１２３４５６７８", "0086 10 1234567", "x@QQ.com",
              "short", None), ("", "企业", "", " ", "", "", "", ""), ("a\x1fb", "个人", "c", None, None, None, None, None)]
    assert rules.profile_columns(*zip(*rows)) == [rules.profile(*row) for row in rows]


def test_both_tools_run_on_the_same_file_and_are_scored(labelled, tmp_path, monkeypatch):
    path, _ = labelled
    monkeypatch.setattr(bench, "RESULTS", str(tmp_path))
    rows = bench.main(["--path", path, "--size", "3000"])
    tools = [row["tool"] for row in rows]
    assert tools[0] == "dedup.scan"
    if bench.splink_available():
        assert tools == ["dedup.scan", "Splink (DuckDB)"]
    ours = rows[0]
    assert ours["recall"] >= 0.97 and ours["seconds"] > 0 and ours["peak_mb"] > 0
    assert all(0 <= row["recall"] <= 1 and 0 <= row["precision"] <= 1 for row in rows)
    assert set(ours["phases"]) == {"read", "keys", "blocks", "names", "groups"}
    markdown = bench.table(rows, 3000, (0.0, 0.0))
    assert markdown.count("\n| ") == 1 + len(rows)  # header and one row per tool
    assert "- dedup.scan by phase: read " in markdown
    assert (tmp_path / "dedup.json").exists()


def test_the_u_of_an_exact_comparison_is_the_chance_two_values_agree():
    import pandas as pd

    frame = pd.DataFrame({"phone": ["a", "a", "b", "c", None, None]})
    assert bench.exact_u(frame, "phone") == pytest.approx(2 / (4 * 3))  # one agreeing ordered pair of 4 values
    assert bench.exact_u(pd.DataFrame({"phone": ["a", "b"]}), "phone") == 1e-12  # never 0: Splink needs a u
