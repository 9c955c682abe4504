"""What a report notebook hands to the runner besides what readers see, without printing it.

A report is read by managers: raw dumps such as `BGNBD_PARAMS={...}` must not appear in it, yet
tests and later features need the fitted parameters without parsing prose, and the mail needs
the report's key chart.  Both travel as outputs of the executed notebook that the runner picks
up (reporting.outputs) and that never reach the HTML:

    publish.results("value_models", {"bgnbd": {...}, "gamma_gamma": {...}})
    publish.key_chart(ax)      # shown in the report as usual, and inline in the subscription mail

results() displays a JSON bundle of a MIME type only this platform reads (RESULTS_MIME), which
the runner stores with the run (ReportRun.results) and removes before the HTML is written.
key_chart() displays the figure as a PNG like any chart and marks that output (KEY_CHART_KEY in
its metadata), so the runner can save the same picture for the mail.
"""
import io
import json

RESULTS_MIME = "application/vnd.crm.results+json"
KEY_CHART_KEY = "crm_key_chart"


def _jsonable(value):
    """numpy scalars and other number-likes as plain Python numbers; JSON refuses them."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def results(name, values):
    """Record `values` (JSON-able: dicts, lists, numbers, text) under `name` for this run."""
    from IPython.display import display

    payload = {str(name): _jsonable(values)}
    json.dumps(payload)  # fail here, in the notebook, not later in the runner
    display({RESULTS_MIME: payload}, raw=True)


def key_chart(ax_or_figure, dpi=110):
    """Show the chart as the report's key chart: in the report as any chart, and in the mail.

    Draws the figure to PNG now and closes it, so the inline backend does not show it twice.
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    figure = getattr(ax_or_figure, "figure", ax_or_figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    display(Image(data=buffer.getvalue(), format="png"), metadata={KEY_CHART_KEY: True})
