"""Reading an executed report notebook: what readers see, what the run keeps, what goes to the log.

A report is for business readers.  Of a notebook's outputs, these never reach the HTML:
- stderr streams and error outputs (warnings, tracebacks, file paths): they go to the run's log;
- a stray value: an execute_result with nothing but text/plain (a cell that ended with an
  expression such as `True` or `<Axes: ...>`): logged too;
- the SUMMARY= lines of stdout (the key numbers for the mail, delivery.report_mail);
  the rest of stdout is shown as paragraphs of text, not as console output;
- results published with analytics.publish.results (RESULTS_MIME): kept with the run.
The key chart (analytics.publish.key_chart) stays in the report and is also saved for the mail.

nbformat is imported by the functions that read or build notebooks: importing it loads jsonschema's
format grammars (over a second of CPU), which processes that never read a notebook must not pay.
"""
import base64
import html

from analytics.publish import KEY_CHART_KEY, RESULTS_MIME

SUMMARY_PREFIX = "SUMMARY="


def read(notebook):
    """A notebook node from a path (or the node itself)."""
    import nbformat

    if isinstance(notebook, (str, bytes)) or hasattr(notebook, "__fspath__"):
        return nbformat.read(notebook, as_version=4)
    return notebook


def _code_outputs(notebook):
    for index, cell in enumerate(read(notebook).cells):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                yield index, output


def results(notebook):
    """{name: values} of every analytics.publish.results call, in order (a later name replaces)."""
    found = {}
    for _, output in _code_outputs(notebook):
        payload = output.get("data", {}).get(RESULTS_MIME) if output.get("output_type") in (
            "display_data", "execute_result") else None
        if isinstance(payload, dict):
            found.update(payload)
    return found


def key_chart(notebook):
    """PNG bytes of the chart marked with analytics.publish.key_chart (the first), or None."""
    for _, output in _code_outputs(notebook):
        if output.get("output_type") == "display_data" and output.get("metadata", {}).get(KEY_CHART_KEY):
            png = output.get("data", {}).get("image/png")
            if png:
                return base64.b64decode(png if isinstance(png, str) else "".join(png))
    return None


def title(notebook):
    """The report's title: the text of the first level-1 heading of its markdown, or ""."""
    for cell in read(notebook).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _stray(output):
    """An expression's leftover value: an execute_result that has only a plain-text form."""
    return output.get("output_type") == "execute_result" and set(output.get("data", {})) <= {"text/plain"}


def _log_text(index, output):
    kind = output.get("output_type")
    if kind == "stream":
        return f"[单元格 {index} {output.get('name')}]\n{output.get('text', '')}"
    if kind == "error":
        trace = "\n".join(output.get("traceback", []))
        return f"[单元格 {index} 错误] {output.get('ename')}: {output.get('evalue')}\n{trace}"
    return f"[单元格 {index} 多余的输出值]\n{output.get('data', {}).get('text/plain', '')}"


def _as_prose(lines):
    """Printed lines as paragraphs of the report's own text, not console output in a code font."""
    import nbformat

    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line.strip())
    return nbformat.v4.new_output("display_data", data={"text/html": f'<div class="report-text">{paragraphs}</div>'})


def for_readers(notebook):
    """(notebook node fit for readers, log text of what was taken out).  The input is not changed."""
    import nbformat

    node = nbformat.from_dict(read(notebook))  # a copy: from_dict rebuilds every nested dict and list
    log = []
    for index, cell in enumerate(node.cells):
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stderr" or kind == "error" or _stray(output):
                log.append(_log_text(index, output))
                continue
            if kind == "stream":
                lines = [line for line in output.get("text", "").splitlines() if not line.startswith(SUMMARY_PREFIX)]
                if not any(line.strip() for line in lines):
                    continue
                output = _as_prose(lines)
            if kind in ("display_data", "execute_result") and RESULTS_MIME in output.get("data", {}):
                continue
            kept.append(output)
        cell["outputs"] = kept
    return node, "\n".join(log)
