"""The import wizard's work, as records and jobs: keep an upload, then check or import it on a worker.

    run = runs.upload(data, "客户.xlsx", "customers", user)     # an ImportRun, status uploaded
    runs.choose(run, mapping=..., key=..., skip_invalid=...)      # what the wizard's second step chose
    runs.start(run, dry_run=True)                                 # checking: a worker validates it
    runs.start(run, dry_run=False)                                # importing: a worker imports it

A job takes the run's id (intake.tasks.import_task on the one jobs queue) and reports progress
on the progress board (intake.progress), outside the import's transaction, so the browser's progress
bar sees it move from any process while the import runs.  The engine does the work
(intake.engine.import_file, all or nothing in one transaction); this module only keeps the
choices and the outcome.  Never imports Flask.
"""
import datetime
import os
import secrets
import time

from models import ImportRun, db

from . import engine, kinds, progress

MAX_ERRORS_KEPT = 500  # rejected cells kept in the run's report for the screen; all are in the error file
PROGRESS_EVERY_S = 0.5  # at most one progress record per this many seconds (and the last one)


def uploads_dir():
    from settings import INSTANCE

    return os.path.join(INSTANCE, "imports", "uploads")


def upload(source, filename, kind, user, sheet=None):
    """Keep an uploaded file (bytes, or an object with save(path) such as an uploaded file) and
    record it; raises engine.ImportRefused, keeping nothing, for a file that cannot be imported at
    all (too large, empty, not a table) and KeyError for an unknown kind."""
    kinds.get(kind)
    filename = os.path.basename(filename or "") or "upload"
    os.makedirs(uploads_dir(), exist_ok=True)
    extension = os.path.splitext(filename)[1].lower()[:8]
    path = os.path.join(uploads_dir(), secrets.token_hex(12) + extension)
    if isinstance(source, (bytes, bytearray)):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(source)
    else:
        source.save(path)  # streamed to disk: an upload is never held in memory whole
        os.chmod(path, 0o600)
    try:
        engine.analyse(path, kind, filename=filename, sheet=sheet)  # refuses an unreadable file now
    except BaseException:
        os.remove(path)
        raise
    return ImportRun.create(user=getattr(user, "id", None), username=getattr(user, "username", None), kind=kind,
                            filename=filename, path=path, options={"sheet": sheet} if sheet else {})


FILE_GONE = "上传的文件已按保留期限清理（导入记录和撤销不受影响），如需再次检查或导入，请重新上传文件。"


def file_gone(run):
    """Whether the run's upload has been deleted (intake.retention): it can no longer be checked or imported."""
    return not os.path.isfile(run.path)


def analyse(run, mapping=None, sheet=None):
    options = run.options or {}
    return engine.analyse(run.path, run.kind, filename=run.filename, sheet=sheet or options.get("sheet"),
                          mapping=mapping if mapping is not None else options.get("mapping"))


def choose(run, **options):
    """Keep the wizard's choices (mapping, value_maps, key, owner, skip_invalid, sheet) on the run."""
    merged = dict(run.options or {})
    merged.update(options)
    run.options = merged
    ImportRun.update(options=merged).where(ImportRun.id == run.id).execute()
    return run


def start(run, dry_run):
    """Mark the run busy and hand its id to a worker; returns the run as marked."""
    from . import tasks

    status = "checking" if dry_run else "importing"
    ImportRun.update(status=status, stage=None, done=0, total=None, message=None, finished_at=None, worker=None,
                     started_at=None).where(ImportRun.id == run.id).execute()
    tasks.import_task(run.id, dry_run)
    return ImportRun.get_by_id(run.id)


def execute(run_id, dry_run):
    """Check or import run `run_id` (on a worker); returns the run, finished."""
    from models import User

    from jobs.liveness import worker_name

    # The claim is committed before the import's transaction begins, so it stays when a kill rolls that back.
    ImportRun.update(worker=worker_name(), started_at=datetime.datetime.now()).where(ImportRun.id == run_id).execute()
    run = ImportRun.get_by_id(run_id)
    if file_gone(run):  # cleared while the run waited for a worker
        return _finish(run_id, "refused", message=FILE_GONE)
    user = User.get_or_none(User.id == run.user_id) if run.user_id else None
    options = dict(run.options or {})
    board = progress.board()
    board.clear(run_id)  # a record left by an earlier pass of this run (a killed worker) is not this pass's
    last = [0.0]
    try:
        # The import is one transaction: progress goes to the board, outside it, or nobody would see it
        # before the commit (intake.progress says where, per database).
        with board.reporter(run_id) as report:
            def report_progress(done, total, stage):
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S or (total and done >= total):
                    last[0] = now
                    report(done, total, stage)

            try:
                result = engine.import_file(
                    run.path, run.kind, filename=run.filename, user=user, mapping=options.get("mapping"),
                    value_maps=options.get("value_maps"), key=options.get("key"), owner=options.get("owner"),
                    skip_invalid=bool(options.get("skip_invalid")), dry_run=dry_run, sheet=options.get("sheet"),
                    errors_to=engine.default_error_path(run.kind),  # a check's too: to fix before importing
                    progress=report_progress)
            except engine.ImportRefused as refused:
                return _finish(run_id, "refused", message=str(refused))
            except Exception as error:  # recorded on the run for the screen; the worker carries on
                return _finish(run_id, "failed", message=f"{type(error).__name__}: {error}")
        if dry_run:
            status = "checked"
        else:
            status = "done" if result.written else "checked"
        return _finish(run_id, status, report=summary(result),
                       batch_id=result.batch_id if result.written else None, done=result.rows, total=result.rows)
    finally:
        board.clear(run_id)  # after the outcome is in the row: the row is the truth from here on


def _finish(run_id, status, **values):
    with db.atomic():
        ImportRun.update(status=status, stage=None, finished_at=datetime.datetime.now(),
                         **values).where(ImportRun.id == run_id).execute()
    return ImportRun.get_by_id(run_id)


def summary(report):
    """What the screen shows of an engine Report (JSON): counts, the first rejected cells, notes.
    Initial passwords of imported users are never kept: the command line prints them once."""
    values_outside = {}
    for error in report.errors:
        if error.field and "不在列表中" in error.reason:
            values_outside.setdefault(error.field, {}).setdefault(str(error.value), error.column)
    return {
        "counts": report.counts(), "summary": report.summary(), "written": report.written,
        "dry_run": report.dry_run, "skip_invalid": report.skip_invalid, "description": report.description,
        "errors": [error.as_dict() for error in report.errors[:MAX_ERRORS_KEPT]],
        "error_count": len(report.errors), "column_errors": list(report.column_errors),
        "notes": list(report.notes), "error_file": report.error_file,
        "unknown_values": {field: sorted(values) for field, values in values_outside.items()},
        "passwords_made": len(report.passwords),
        "duplicates": report.duplicates[:MAX_ERRORS_KEPT], "duplicate_count": len(report.duplicates),
    }


def list_entries(kind_name, field_name):
    """The list entries a field's unknown values can be mapped onto (for the wizard's selects)."""
    from models import standardise

    spec = kinds.get(kind_name)
    field = spec.field(field_name)
    return [name for name, _code, _aliases in standardise.choice_entries(field.choice)] if field.choice else []
