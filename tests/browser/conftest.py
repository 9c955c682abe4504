"""Real-browser fixtures: the app served on a local port, driven by Debian's Chromium.

pytest-playwright supplies `browser`, `context` and `page`; this file points it at
/usr/bin/chromium (never a downloaded browser) and serves the top-level `app` fixture
(fresh database per test) from a thread, so the test can check the database directly.
"""
import logging
import os
import pathlib
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

expect.set_options(timeout=10_000)  # a loaded CI machine may be slower than the 5 s default

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    # The PostgreSQL run's own folder: .ci/run runs it beside the SQLite run, same file names.
    ARTIFACTS = ARTIFACTS / "postgresql"
# Offline machine: without the background-networking flags Chromium's own outbound
# connections (updates, sync, field trials) are refused and slow start-up down.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    CHROMIUM_ARGS.insert(0, "--no-sandbox")  # Chromium refuses to start its sandbox as root


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium fonts-wqy-microhei)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def live_server(app):
    """Base URL of `app` served by werkzeug in a daemon thread (one thread per request).

    The browser is still open when this is torn down and may still be loading (a page's last
    scripts and images, over kept-alive connections that outlive server.shutdown()). Those
    requests must not reach the app once the test is over: the `app` fixture then closes every
    pooled connection, and closing a SQLite connection that a request thread is using crashes
    the interpreter (a segmentation fault, seen on a busy machine). So the teardown first turns
    new requests away (503) and waits for the ones inside the app to finish.
    """
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)  # a failure report should not drown in static-file requests
    state = threading.Condition()
    running = {"requests": 0, "open": True}

    def served(environ, start_response):
        with state:
            if not running["open"]:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"the test is over"]
            running["requests"] += 1
        try:
            # Flask runs the view and its teardown (the connection back to the pool) in here.
            return app(environ, start_response)
        finally:
            with state:
                running["requests"] -= 1
                state.notify_all()

    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    with state:
        running["open"] = False
        state.wait_for(lambda: running["requests"] == 0, timeout=30)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    access_log.setLevel(level)


@pytest.fixture
def page(page):
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(20_000)
    return page


@pytest.fixture
def shot(page, request):
    """shot("step") -> test-artifacts/<test name>-NN-step.png (test-artifacts/postgresql/ on
    PostgreSQL), once the page has settled."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def _shot(step):
        page.wait_for_load_state("networkidle")
        path = ARTIFACTS / f"{request.node.name.split('[')[0]}-{next(counter):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture(scope="session")
def password(pytestconfig):
    """The demo users' password, as set by the top-level tests/conftest.py."""
    top = pytestconfig.pluginmanager.get_plugin(str(pathlib.Path(__file__).resolve().parents[1] / "conftest.py"))
    assert top is not None and hasattr(top, "PASSWORD"), "tests/conftest.py (PASSWORD) not loaded"
    return top.PASSWORD
