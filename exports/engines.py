"""PDF engines: a printable HTML page (exports.printed) in, PDF bytes out.  A registry, so the
benchmark (bench/exports.py) can run both on the same page; DEFAULT is the one chosen by that
measurement (docs/exports.md, docs/benchmarks.md).

- weasyprint: WeasyPrint, pure Python over Debian's Pango; runs in the calling process.
- chromium:   Debian's Chromium (/usr/bin/chromium) printing through Playwright, as the browser tests
              drive it; a browser process per call.

Both are given the page as a file in a fresh temporary folder, so the page can load the project's
font by file URL and nothing else: no request leaves the machine (WeasyPrint's fetcher refuses
anything but file: URLs of the font and data: URLs; Chromium runs offline with network requests
refused).
"""
import os
import tempfile
import threading

CHROMIUM = "/usr/bin/chromium"  # Debian's package, as the browser tests use it; `make demo` installs it
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class EngineUnavailable(RuntimeError):
    """The engine cannot run on this machine; the message (Chinese) says what to install."""


def weasyprint_pdf(page_html):
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: the Pango libraries are missing
        raise EngineUnavailable(f"无法生成 PDF：WeasyPrint 不可用（{error}）。"
                                "请安装 bench 附加依赖（pip install -e '.[bench]'）。") from error
    from .printed import font_url

    allowed = font_url()

    class OnlyTheFont(weasyprint.urls.URLFetcher):
        def fetch(self, url, headers=None):
            if url == allowed or url.startswith("data:"):
                return super().fetch(url, headers)
            raise ValueError(f"PDF 不读取外部资源：{url[:80]}")

    fetcher = OnlyTheFont(allowed_protocols=("file", "data"))
    return weasyprint.HTML(string=page_html, url_fetcher=fetcher, base_url=None).write_pdf()


def chromium_pdf(page_html):
    try:
        import playwright.sync_api  # noqa: F401 - only whether it is installed
    except ImportError as error:
        raise EngineUnavailable("无法生成 PDF：未安装 Playwright。") from error
    if not os.path.exists(CHROMIUM):
        raise EngineUnavailable(f"无法生成 PDF：找不到 Chromium（{CHROMIUM}）。")
    # Printed on a thread of its own: Playwright's sync API refuses to start on a thread whose asyncio loop is
    # running ("Playwright Sync API inside the asyncio loop"), which is the case under an async server or in
    # a test session where pytest-playwright's browser is open; a new thread has no loop.
    outcome = {}

    def work():
        try:
            outcome["pdf"] = _chromium_print(page_html)
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=work, name="pdf-print", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["pdf"]


def _chromium_print(page_html):
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="crm-pdf-") as folder:
        path = os.path.join(folder, "report.html")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(page_html)
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            except Exception as error:  # a browser that cannot start here (missing libraries, no memory)
                raise EngineUnavailable(f"无法生成 PDF：Chromium 无法启动（{str(error).splitlines()[0]}）。") from error
            try:
                page = browser.new_page()
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                           else route.abort())
                page.goto("file://" + path, wait_until="load")
                page.evaluate("document.fonts.ready.then(() => true)")
                return page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
            finally:
                browser.close()


ENGINES = {"weasyprint": weasyprint_pdf, "chromium": chromium_pdf}
DEFAULT = "chromium"  # 10,000 rows: 6-7x faster than WeasyPrint; notebook reports alike (docs/benchmarks.md)


def pdf(page_html, engine=None):
    """PDF bytes of a printable page with `engine` (a name in ENGINES; default DEFAULT)."""
    name = engine or DEFAULT
    if name not in ENGINES:
        raise EngineUnavailable(f"未知的 PDF 引擎 {name}，可选：{'、'.join(ENGINES)}")
    return ENGINES[name](page_html)
