"""Runs one report: validate, execute the notebook with papermill, export HTML, record a ReportRun."""
import datetime
import json
import os
import secrets
import threading
import time

import nbformat
import papermill
from nbconvert import HTMLExporter

from . import params as report_params
from . import provenance, registry

OUT_DIR = os.path.join(registry.ROOT, "reports_out")
SUPPRESS_BELOW = 5  # groups smaller than this are hidden in scoped reports, so one customer cannot be singled out
# os.environ is process-wide: two runs in one process must not swap each other's database settings.
_env_lock = threading.Lock()


def new_run_id(now=None):
    return (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def scope_for(user):
    """(owner_ids, suppress_below) for a run by `user`; None is the system, with full access."""
    if user is None:
        return None, 0
    import access

    grant = access.grant_for(user)
    return access.owner_ids(user, grant), (0 if grant.row_scope == "all" else SUPPRESS_BELOW)


def run_report(name, supplied=None, user=None, config=None, out_dir=None, progress_bar=False,
               execution_timeout=600):
    """Run report `name` for `user` and return its ReportRun (status success or failed).

    `config` supplies DATABASE_URL and FIELD_KEY for the kernel (a Flask app.config or any
    mapping).  Raises registry.ReportError before anything runs if the name or a parameter
    is wrong; a failing notebook is not an exception but a run with status "failed".
    """
    from models import ReportRun

    report = registry.get(name)
    values = report_params.validate(report, supplied)
    values["owner_ids"], values["suppress_below"] = scope_for(user)

    run_id = new_run_id()
    folder = os.path.join(out_dir or OUT_DIR, report.name)
    os.makedirs(folder, exist_ok=True)
    notebook_path = os.path.join(folder, run_id + ".ipynb")
    run = ReportRun.create(
        run_id=run_id,
        report=report.name,
        parameters=json.dumps(values, ensure_ascii=False),
        user=user,
        username=user.username if user is not None else "system",
        code_version=provenance.code_version(),
        watermark=json.dumps(provenance.data_watermark(), ensure_ascii=False),
        notebook_path=notebook_path,
    )
    started = time.monotonic()
    try:
        with _database_env(config or {}):
            papermill.execute_notebook(
                report.notebook, notebook_path, parameters=values, kernel_name="python3",
                progress_bar=progress_bar, execution_timeout=execution_timeout,
                cwd=registry.ROOT,  # notebooks import models/analytics from the project
            )
        run.html_path = write_html(notebook_path)
        run.status = "success"
    except papermill.PapermillExecutionError as error:
        # papermill has already saved the executed notebook, error cell included, for debugging.
        run.status, run.error_name, run.error = "failed", error.ename, error.evalue
    except Exception as error:  # kernel died, timeout, export failed: still a recorded, failed run
        run.status, run.error_name, run.error = "failed", type(error).__name__, str(error)
    run.finished_at = datetime.datetime.now()
    run.duration = round(time.monotonic() - started, 3)
    run.save()
    return run


def write_html(notebook_path):
    """The executed notebook as HTML for readers: code hidden, charts embedded."""
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4))
    html_path = os.path.splitext(notebook_path)[0] + ".html"
    with open(html_path, "w", encoding="utf-8") as handle:
        handle.write(body)
    return html_path


class _database_env:
    """DATABASE_URL / FIELD_KEY in os.environ while the kernel starts (it inherits them), then restored."""

    KEYS = ("DATABASE_URL", "FIELD_KEY")

    def __init__(self, config):
        self.values = {key: config.get(key) for key in self.KEYS if config.get(key)}

    def __enter__(self):
        _env_lock.acquire()
        self.saved = {key: os.environ.get(key) for key in self.KEYS}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _env_lock.release()
