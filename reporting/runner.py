"""Runs one report: validate, execute the notebook with papermill, export HTML, record a ReportRun.

papermill, nbconvert and the progress engine are imported by the functions that execute a notebook or
write its HTML, not here: the web app, the CLI and the worker import this module at start to queue runs
and read their scope, and papermill's imports (nbformat, jsonschema's format grammars) cost over a second
of CPU that only a process running a notebook should pay.  tests/test_startup.py holds them to it.
"""
import contextlib
import datetime
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time

from jobs import liveness

from . import params as report_params
from . import outputs, provenance, registry

OUT_DIR = os.path.join(registry.ROOT, "reports_out")
SUPPRESS_BELOW = 5  # groups smaller than this are hidden in scoped reports, so one customer cannot be singled out
DATABASE_KEYS = ("DATABASE_URL", "FIELD_KEY", "FIELD_KEY_OLD")
# A notebook prints its key numbers for mail as one line SUMMARY={json}; readers of the HTML never see it.
SUMMARY_PREFIX = outputs.SUMMARY_PREFIX
# os.environ is process-wide: two runs in one process must not swap each other's database settings.
_env_lock = threading.Lock()


def new_run_id(now=None):
    return (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


# Customer columns reports may show (in customer lists), whose column rules the runner passes on.
LABEL_COLUMNS = ("code", "name")


def scope_for(user):
    """The scope parameters of a run by `user` (None: the system, with full access).

    owner_ids: whose customers the report covers (None = everyone's); suppress_below: groups
    smaller than this are hidden; column_access: customer column -> "masked"/"hidden" where the
    user's role may not read it in clear, for the customer lists a report prints; viewer_role: the role
    whose column rules decide what a report may compute at all (a saved custom report offers no money
    measure to a role that may not see amounts; None: the system, everything).
    """
    if user is None:
        return {"owner_ids": None, "suppress_below": 0, "column_access": {}, "viewer_role": None}
    import access

    grant = access.grant_for(user)
    return {
        "owner_ids": access.owner_ids(user, grant),
        "suppress_below": 0 if grant.row_scope == "all" else SUPPRESS_BELOW,
        "column_access": {c: grant.access("customer", c) for c in LABEL_COLUMNS if not grant.clear("customer", c)},
        "viewer_role": grant.role,
    }


def run_parameters(report, supplied, user):
    """The parameters a run of `report` by `user` records and executes: the supplied ones validated
    (raises registry.ReportError), then the scope parameters of `user`, which nobody can supply."""
    values = report_params.validate(report, supplied)
    values.update(scope_for(user))
    return values


def run_report(name, supplied=None, user=None, config=None, out_dir=None, progress_bar=False,
               execution_timeout=600):
    """Run report `name` for `user` and return its ReportRun (status success or failed).

    `config` supplies DATABASE_URL and FIELD_KEY for the kernel (a Flask app.config or any
    mapping).  Raises registry.ReportError before anything runs if the name or a parameter
    is wrong; a failing notebook is not an exception but a run with status "failed".
    """
    run = queue_run(name, supplied, user=user, out_dir=out_dir)
    return execute_run(run.id, config=config, progress_bar=progress_bar, execution_timeout=execution_timeout)


def queue_run(name, supplied=None, user=None, out_dir=None, asked=False):
    """Validate and record a run (status "queued") without executing it; returns the ReportRun.

    Raises registry.ReportError, with nothing written, when the name or a parameter is wrong, or when
    `asked` (`user` starts it themselves: 立即运行, 重新运行) and `user` may not use the report so
    (registry.check_use).  The run's scope is fixed here, from `user`'s grant at the time of asking.
    """
    from models import ReportRun

    report = registry.get(name)
    values = run_parameters(report, supplied, user)
    if asked:
        registry.check_use(report, user, values)
    run_id = new_run_id()
    return ReportRun.create(
        run_id=run_id,
        report=report.name,
        parameters=json.dumps(values, ensure_ascii=False),
        user=user,
        username=user.username if user is not None else "system",
        notebook_path=os.path.join(out_dir or OUT_DIR, report.name, run_id + ".ipynb"),
    )


def rerun(run, user, out_dir=None):
    """A new queued run of the same report with `run`'s parameters, scoped for `user` (who asks now)."""
    supplied = {k: v for k, v in run.params.items() if k not in report_params.SCOPE_PARAMS}
    return queue_run(run.report, supplied, user=user, out_dir=out_dir, asked=True)


def execute_run(run_id, config=None, progress_bar=False, execution_timeout=600):
    """Execute the queued run with database id `run_id`; returns it finished (success or failed).

    Takes an id, not a row, so a job on another thread or machine reads the run afresh.  The run
    is claimed first (queued -> running in one UPDATE): a run that is no longer queued (taken by
    another worker, finished, or deleted meanwhile) is left alone and returned as it is, or None.
    """
    import papermill

    from models import ReportRun

    from . import progress  # registers the engine papermill runs the notebook with

    claimed = (ReportRun.update(status="running", started_at=datetime.datetime.now(), worker=liveness.worker_name())
               .where((ReportRun.id == run_id) & (ReportRun.status == "queued")).execute())
    if not claimed:
        return ReportRun.get_or_none(ReportRun.id == run_id)
    run = ReportRun.get_by_id(run_id)
    started = time.monotonic()
    run.code_version = provenance.code_version()
    run.watermark = json.dumps(provenance.data_watermark(), ensure_ascii=False)
    run.save()
    os.makedirs(os.path.dirname(run.notebook_path), exist_ok=True)

    def on_cell(done, total):
        ReportRun.update(cells_done=done, cells_total=total).where(ReportRun.id == run_id).execute()

    try:
        report = registry.get(run.report)
        # Only what the notebook declares (scope included; a notebook lacking a scope parameter its
        # registration names is refused here, ReportError, before a kernel starts): the recorded run keeps all.
        parameters = report_params.for_notebook(report, run.params)
        with _database_env(config or {}), _kernel_sockets() as kernel_config:
            papermill.execute_notebook(
                report.notebook, run.notebook_path, parameters=parameters, kernel_name="python3",
                progress_bar=progress_bar, execution_timeout=execution_timeout,
                cwd=registry.ROOT,  # notebooks import models/analytics from the project
                engine_name=progress.ENGINE, on_cell=on_cell, config=kernel_config,
            )
        finish_outputs(run)
        run.status = "success"
    except papermill.PapermillExecutionError as error:
        # papermill has already saved the executed notebook, error cell included, for debugging.
        run.status, run.error_name, run.error = "failed", error.ename, error.evalue
        run.log_path = write_log(run.notebook_path, outputs.for_readers(run.notebook_path)[1])
    except Exception as error:  # kernel died, timeout, export failed, report unregistered: a failed run
        run.status, run.error_name, run.error = "failed", type(error).__name__, str(error)
    run.finished_at = datetime.datetime.now()
    run.duration = round(time.monotonic() - started, 3)
    # Only the outcome: the progress columns were written by on_cell and this copy has stale ones.
    run.save(only=[ReportRun.status, ReportRun.error_name, ReportRun.error, ReportRun.html_path,
                   ReportRun.log_path, ReportRun.chart_path, ReportRun.results, ReportRun.finished_at,
                   ReportRun.duration])
    return ReportRun.get_by_id(run_id)


def finish_outputs(run):
    """From the executed notebook: the HTML for readers, the log of what they must not see, the key
    chart for the mail and the published results, set on `run` (not saved)."""
    notebook = outputs.read(run.notebook_path)
    run.html_path = write_html(run.notebook_path, notebook)
    run.log_path = write_log(run.notebook_path, outputs.for_readers(notebook)[1])
    chart = outputs.key_chart(notebook)
    run.chart_path = None
    if chart:
        run.chart_path = os.path.splitext(run.notebook_path)[0] + ".chart.png"
        with open(run.chart_path, "wb") as handle:
            handle.write(chart)
    run.results = json.dumps(outputs.results(notebook), ensure_ascii=False)


def write_html(notebook_path, notebook=None):
    """The executed notebook as HTML for readers: code hidden, charts embedded, and nothing of what
    reporting.outputs keeps from readers (stderr, errors, stray values, SUMMARY lines, results)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            log=_export_log)
    readable, _ = outputs.for_readers(notebook if notebook is not None else notebook_path)
    title = outputs.title(readable) or os.path.basename(os.path.dirname(notebook_path))
    body, _ = exporter.from_notebook_node(readable, resources={"metadata": {"name": title}})
    # nbconvert writes an English page: say it is Chinese, and describe charts in Chinese.
    body = body.replace('<html lang="en">', '<html lang="zh-CN">', 1).replace(
        'alt="No description has been provided for this image"', 'alt="图表"')
    html_path = os.path.splitext(notebook_path)[0] + ".html"
    with open(html_path, "w", encoding="utf-8") as handle:
        handle.write(body)
    return html_path


def write_log(notebook_path, text):
    """The run's log (what was kept from readers) beside its notebook; None when there is nothing."""
    if not text:
        return None
    log_path = os.path.splitext(notebook_path)[0] + ".log"
    with open(log_path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return log_path


class _AltTextSupplied(logging.Filter):
    """nbconvert warns "Alternative text is missing on N image(s)" for every report with a chart, in the worker's
    log; write_html gives each of those images its alt text (图表) right after, so the warning says nothing true."""

    def filter(self, record):
        return not str(record.msg).startswith("Alternative text is missing")


_export_log = logging.getLogger("reporting.html")
_export_log.addFilter(_AltTextSupplied())


KERNEL_SOCKETS_PREFIX = "crm-kernel-"  # + the pid of the process that runs the kernel + "-" + random


@contextlib.contextmanager
def _kernel_sockets():
    """Kernel configuration for one run: the kernel and this process talk over Unix sockets in a private directory
    (mode 0700) of the run, not over loopback TCP ports that any local user could reach.  ipykernel also warns
    ("Kernel is running over TCP without encryption") on the worker's stderr at every start over TCP."""
    from traitlets.config import Config

    remove_orphaned_kernel_sockets()
    directory = tempfile.mkdtemp(prefix=f"{KERNEL_SOCKETS_PREFIX}{os.getpid()}-")
    try:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(directory, "kernel")}})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_orphaned_kernel_sockets():
    """Remove the socket directories of runs whose process no longer exists: a worker killed mid-run (SIGKILL, the
    machine's OOM killer) cannot remove its run's, and its kernel exits with it.  Done before each run."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        pid = name[len(KERNEL_SOCKETS_PREFIX):].partition("-")[0] if name.startswith(KERNEL_SOCKETS_PREFIX) else ""
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except PermissionError:
            pass  # alive, and another user's


class _database_env:
    """DATABASE_URL / FIELD_KEY in os.environ while the kernel starts (it inherits them), then restored."""

    def __init__(self, config):
        self.values = {key: config.get(key) for key in DATABASE_KEYS if config.get(key)}

    def __enter__(self):
        _env_lock.acquire()
        self.saved = {key: os.environ.get(key) for key in DATABASE_KEYS}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _env_lock.release()
