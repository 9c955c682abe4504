"""bench.deliveries in a tiny configuration (1 round, 4 subscriptions on 1 and 2 workers): it runs end
to end on real workers, kernels and SMTP, its output has the expected shape, and every delivery was
sent exactly once.  No timing is asserted: speed is the benchmark's business, not the tests'.
"""
import json
import subprocess
import sys
from email.message import EmailMessage
from types import SimpleNamespace

from bench import deliveries
from tests.test_jobs_probe import ROOT

SUBSCRIPTIONS = 4


def test_the_benchmark_runs_tiny_and_every_delivery_is_sent_once(tmp_path):
    results = tmp_path / "results"
    finished = subprocess.run(
        [sys.executable, "-m", "bench.deliveries", "--runs", "1", "--warmup", "0", "--scheduled", "0",
         "--subscriptions", str(SUBSCRIPTIONS), "--workers", "1,2", "--customers", "100", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads((results / "deliveries.json").read_text())
    assert result["setup"]["customers"] == 100 and result["setup"]["plan_retries"] >= 0

    assert result["scheduled"] == []  # each would wait for a new minute: left to the full run
    [row] = result["overhead"]
    assert row["report"] == deliveries.TINY and row["runs"] == 1
    for column in ("raw", "runner", "chain"):
        assert set(row[column]) == {"median", "min", "max"} and row[column]["median"] > 0
    assert set(row["stages"]) == {key for key, _ in deliveries.STAGES}
    assert row["overhead_s"] == row["chain"]["median"] - row["raw"]["median"]

    assert [(r["queue"], r["workers"]) for r in result["throughput"]] == [("sqlite", 1), ("sqlite", 2)]
    for case in result["throughput"]:
        assert case["subscriptions"] == case["deliveries"] == SUBSCRIPTIONS
        assert case["sent"] == case["mails"] == case["runs"] == SUBSCRIPTIONS  # one run and one mail each
        assert case["retried"] == 0 and case["each_once"] is True
        assert case["wall_s"] > 0 and case["per_minute"] > 0

    text = (results / "deliveries.md").read_text()
    assert "| whole chain |" in text and "| deliveries / min |" in text and "load average" in text
    assert "Overhead per delivery" in finished.stdout  # the same table printed


def mail(delivery_id, to):
    message = EmailMessage()
    message["To"], message["X-CRM-Delivery"] = to, str(delivery_id)
    message.set_content("报表")
    return SimpleNamespace(raw=message.as_bytes(), rcpt_tos=[to])


def test_exactly_once_sees_a_mail_sent_twice_or_missing():
    rows = [SimpleNamespace(id=n, status="sent", report_run_id=10 + n, attempts=1) for n in (1, 2)]
    good = [mail(1, "a@example.com"), mail(2, "b@example.com"), mail(99, "other@example.com")]
    assert deliveries.exactly_once(rows, good) == {"sent": 2, "mails": 2, "runs": 2, "retried": 0, "each_once": True}
    twice = good + [mail(2, "b@example.com")]
    assert deliveries.exactly_once(rows, twice)["each_once"] is False
    assert deliveries.exactly_once(rows, good[:1])["each_once"] is False
