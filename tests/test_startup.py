"""Processes that run no notebook do not load what only a notebook run needs.

Importing papermill (through nbformat, jsonschema's format grammars) costs about 1.4 s of CPU, and
pandas with the CLV models (lifetimes, scipy) about a second more: the web app, `run.py` and every worker
paid both at start while only a report run, a value refresh or an export uses them (docs/benchmarks.md,
Start-up).  A fresh interpreter does what each process does at start, then says which of these it loaded;
an eager import of any of them (a module-level `import papermill` in something the admin imports) fails here.
"""
import base64
import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Loaded by the code that needs them (reporting.runner, reporting.outputs, valuation, exports, analytics), never at start.
LAZY = ("papermill", "nbformat", "nbconvert", "nbclient", "jupyter_client", "jsonschema", "pandas", "numpy",
        "scipy", "lifetimes", "sklearn", "matplotlib", "duckdb", "playwright", "openpyxl")

STARTS = textwrap.dedent("""
    import base64, json, os, runpy, sys
    LAZY = %r
    loaded = {}

    def note(step):
        loaded[step] = sorted(name for name in LAZY if name in sys.modules)

    # A worker (run.py worker): the configuration, the models bound, every module that registers jobs.
    from jobs import worker
    worker.load_config()
    worker.discover(())
    note("worker")
    # run.py --help
    sys.argv = ["run.py", "--help"]
    try:
        runpy.run_path(os.path.join(%r, "run.py"), run_name="__main__")
    except SystemExit:
        pass
    note("run.py --help")
    # The web app: the factory builds every admin screen, the API and the login.
    from web import create_app
    create_app()
    note("create_app")
    print("LOADED=" + json.dumps(loaded))
""")


def test_the_web_app_the_cli_and_a_worker_start_without_notebook_libraries(tmp_path):
    env = {**os.environ, "CRM_ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'start.db'}",
           "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}", "SECRET_KEY": "start-test",
           "FIELD_KEY": base64.b64encode(b"k" * 32).decode()}
    env.pop("PYTHONSTARTUP", None)
    done = subprocess.run([sys.executable, "-c", STARTS % (LAZY, ROOT)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED="))
    loaded = json.loads(line[len("LOADED="):])
    assert list(loaded) == ["worker", "run.py --help", "create_app"]
    assert loaded == {step: [] for step in loaded}, loaded
    assert "客户资料管理与分析平台" in done.stdout, "run.py --help printed its help"
