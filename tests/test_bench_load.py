"""bench.load at a tiny size, so it cannot rot: 5 users of four roles against the real `run.py serve` (waitress)
for 2 s on the configured database (a copy of a generated SQLite file, or a scratch schema of DATABASE_URL's
PostgreSQL database that the bench drops afterwards).  Every action of the mix is exercised, nothing fails
(status, expected content, "database is locked", a traceback in the server's log), each counted save is one
备注 change in the audit log, and the docs table is written."""
import os

from bench import load as bench


def test_the_load_bench_runs_every_action_without_an_error(bench_scratch):
    tmp_path, docs = bench_scratch
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    results = bench.main(["--customers", "300", "--users", "5", "--seconds", "2", "--think", "0",
                          "--backends", "postgresql" if postgres else "sqlite",
                          "--schema", f"bench_load_test_{os.getpid()}", "--drop-schema", "--write-docs"])
    [result] = results
    assert result["backend"] == ("PostgreSQL" if postgres else "SQLite")
    assert result["users"] == 5 and result["roles"] == {"admin": 1, "manager": 1, "sales": 2, "service": 1}
    assert result["errors"] == 0, result["error_samples"]
    done = {a["action"]: a for a in result["actions"]}
    assert list(done) == list(bench.ACTIONS)
    for action in done.values():
        assert action["requests"] > 0 and action["errors"] == 0, action
        assert 0 < action["p50_ms"] <= action["p95_ms"] <= action["max_ms"]
    assert result["saves"] == done["edit_save"]["requests"] == result["audited_saves"]
    assert result["exported_rows"] > 0 and result["server_cpu_s"] > 0
    if postgres:  # the scratch schema is dropped
        con = bench.pg_autocommit(os.environ["DATABASE_URL"])
        cursor = con.cursor()
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (f"bench_load_test_{os.getpid()}",))
        assert cursor.fetchone()[0] == 0
        con.close()
    else:  # the run's copy of the generated file is removed
        assert not [f for f in os.listdir(tmp_path / "data") if f.startswith("load_run_")]
    text = docs.read_text(encoding="utf-8")
    assert "<!-- load:begin -->" in text and "| export CSV (one status) |" in text and "**0**" in text


def test_every_role_of_the_roster_logs_in_and_the_first_users_mix_the_roles():
    users = bench.roster()
    assert len(users) == 50 and len({u for u, _ in users}) == 50
    assert {role for _, role in users[:4]} == {"admin", "manager", "sales", "service"}
    counts = {role: sum(1 for _, r in users if r == role) for role in ("admin", "manager", "sales", "service")}
    assert counts == {"admin": 2, "manager": 6, "sales": 38, "service": 4}
