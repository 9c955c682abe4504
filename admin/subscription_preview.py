"""预览邮件: the mail a subscription would send now, per recipient scope, built by the delivery composer.

A subscription sends one mail per recipient scope (subscriptions.engine.recipient_groups).  For each
scope the preview takes the latest finished run of the subscription's report with its parameters in
that scope (the as_of date aside: every occurrence has its own) and composes the mail exactly as a
delivery does (delivery.compose).  Without such a run the preview says so and can queue one.

The viewer sees a scope's content only when that scope lies inside their own: a sales rep whose
subscription also goes to the manager sees the manager's subject and recipients, not the team's
numbers.  Never imports Flask.
"""
import json
import os
from dataclasses import dataclass

import access
from access.scope import owner_ids
from models import ReportRun

CANDIDATES = 50  # recent runs of the report looked at per scope
IGNORED = ("as_of",)  # differs per occurrence; any date's run shows what the mail looks like


@dataclass
class ScopePreview:
    key: str
    run_as: object  # the User whose scope the run has
    addresses: list
    visible: bool  # may the viewer see this scope's content?
    run: object = None  # the latest finished, successful run, or None
    pending: object = None  # a queued/running run newer than `run`, or None
    message: object = None  # the composed EmailMessage
    error: str = ""  # why no message could be composed

    @property
    def subject(self):
        return str(self.message["Subject"]) if self.message is not None else ""

    def body(self, subtype):
        if self.message is None:
            return ""
        if subtype == "html":  # with its inline chart, which a web page cannot load by cid:
            from delivery.message import html_for_browser

            return html_for_browser(self.message)
        part = self.message.get_body((subtype,))
        return part.get_content() if part is not None else ""


def within(viewer_ids, other_ids):
    """Whether scope `other_ids` (owner ids, None = all) lies inside `viewer_ids`."""
    if viewer_ids is None:
        return True
    return other_ids is not None and set(other_ids) <= set(viewer_ids)


def expected_params(subscription, run_as):
    """The parameters a run for `subscription` in `run_as`'s scope records (JSON-normalized, as_of aside)."""
    from reporting import registry
    from reporting.runner import run_parameters

    values = run_parameters(registry.get(subscription.report), subscription.params, run_as)
    return _comparable(json.loads(json.dumps(values, default=str)))


def _comparable(params):
    return {k: v for k, v in params.items() if k not in IGNORED}


def runs_for(subscription, run_as, wanted):
    """(latest successful run with its HTML, newer queued/running run) for these parameters."""
    query = (ReportRun.select().where((ReportRun.report == subscription.report) & (ReportRun.user == run_as.id))
             .order_by(ReportRun.id.desc()).limit(CANDIDATES))
    done = pending = None
    for run in query:
        if _comparable(run.params) != wanted:
            continue
        if run.status in ("queued", "running") and done is None and pending is None:
            pending = run
        elif run.status == "success" and run.html_path and os.path.isfile(run.html_path):
            done = run
            break
    return done, pending


def preview(subscription, viewer, compose=True):
    """[ScopePreview] of `subscription` for `viewer`, one per recipient scope."""
    import delivery
    from reporting.registry import ReportError
    from subscriptions.engine import recipient_groups

    viewer_ids = owner_ids(viewer, access.grant_for(viewer))
    found = []
    for key, run_as, addresses in recipient_groups(subscription):
        scope_ids = owner_ids(run_as, access.grant_for(run_as))
        item = ScopePreview(key, run_as, addresses, within(viewer_ids, scope_ids))
        found.append(item)
        if not item.visible:
            continue
        try:
            item.run, item.pending = runs_for(subscription, run_as, expected_params(subscription, run_as))
        except ReportError as error:  # the report or its parameters no longer fit the notebook
            item.error = str(error)
            continue
        if item.run is not None and compose:
            try:
                item.message = delivery.compose(item.run, addresses, delivery.from_env().sender)
            except delivery.DeliveryError as error:
                item.error = str(error)
    return found


def queue_runs(subscription, viewer):
    """Queue a run for every visible scope that has neither a finished nor a running one; returns them."""
    from reporting.runner import queue_run

    queued = []
    for item in preview(subscription, viewer, compose=False):
        if item.visible and not item.error and item.run is None and item.pending is None:
            queued.append(queue_run(subscription.report, subscription.params, user=item.run_as))
    return queued
