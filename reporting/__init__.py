"""Reports: analysis notebooks run with papermill, exported to HTML, recorded as ReportRun rows.

    python run.py report segmentation --param as_of=2026-06-30 --param regions=华北,华东
    python run.py report value --param top_n=50 --as sales1

What happens on a run
  1. The report name is looked up in `reporting.registry` (name -> notebook, defaults,
     description).  Adding a notebook there with register(name, path, description) makes
     it runnable from the CLI, and later from the admin and scheduled jobs.
  2. Parameters are checked against the notebook's `parameters` cell before any kernel
     starts: unknown names, wrong types and bad dates are refused with a message
     (未知参数 xyz；可用参数：…).  Types come from each declared default: int, float, bool,
     list (comma separated; ints when the default list holds ints), str.  `as_of`, `start`,
     `compare_to` and any `*_date` must be YYYY-MM-DD or empty.
  3. Access: `owner_ids`, `suppress_below`, `column_access` and `viewer_role` (SCOPE_PARAMS) are
     set by the runner, never by the caller.  The registry names the ones each report takes
     (register(..., scope=...): row and column scope unless it says more); a notebook is given
     only the parameters its `parameters` cell declares, so one that does not declare a scope
     parameter its report takes is refused (fail closed) rather than run unscoped.
     A run as a user covers the customers that user may see (access.owner_ids: a sales
     rep's own, a manager's team, None = all) and hides groups smaller than 5 when the
     role's row scope is not "all"; customer codes and names in its lists are masked or left
     out where the role's column rules say so.  The CLI runs as the system (full access) unless
     `--as USERNAME` is given.
  4. papermill executes the notebook into reports_out/<report>/<run-id>.ipynb with the
     project root as working directory; the kernel gets DATABASE_URL and FIELD_KEY from
     the configuration passed to the runner, and talks to the runner over Unix sockets in a
     private directory of the run.  papermill and nbconvert are imported only here, by the
     process that runs the notebook (docs/reports.md, Start-up).  nbconvert writes <run-id>.html next to it
     with the code hidden and charts embedded.
  5. A ReportRun row records report, parameters (scope included), who ran it, the code
     version (git commit, "-dirty" with uncommitted changes, else the package version),
     a data watermark (row counts and latest timestamps of customers, orders and
     follow-ups), status, duration, and the output paths.  A failing cell marks the run
     "failed" with the exception name and message; the executed notebook is kept, error
     cell included, for debugging.  No HTML is written for a failed run.

Run ids look like 20261123-012345-a1b2c3 (time started + 6 random hex digits).
reports_out/ is git-ignored.  This package never imports Flask: jobs can call
run_report() directly with any mapping as `config`.
"""
from .params import SCOPE_PARAMS, validate
from .registry import Report, ReportError, available, get, register, unregister
from .runner import run_report

__all__ = ["Report", "ReportError", "SCOPE_PARAMS", "available", "get", "register", "run_report",
           "unregister", "validate"]
