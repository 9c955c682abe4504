"""The `settings` package: the configuration every process reads, without Flask.

A report kernel (analytics.session), the worker and the CLI's worker and mailbox commands
read the same settings as the web app; importing them, and reading the settings through
them, must not drag in Flask (nor the admin screens behind it).
"""
import base64
import importlib.util
import os
import subprocess
import sys

from tests.test_jobs_probe import ROOT

# What a report kernel or the worker imports, and the packages they build on.
FLASK_FREE = ("settings", "analytics.session", "jobs.worker", "jobs.queue", "reporting", "delivery", "subscriptions")

CHECK = f"""
import importlib, sys
for name in {FLASK_FREE!r}:
    importlib.import_module(name)
    assert "flask" not in sys.modules, name + " imports flask"
# The lazy imports too: the queue's default file, the worker's and a kernel's configuration.
importlib.import_module("jobs.queue").default_url()
importlib.import_module("jobs.worker").load_config()
importlib.import_module("analytics.session").connect()
assert "flask" not in sys.modules, "reading the settings imports flask"
print("ok")
"""


def test_kernel_worker_and_settings_import_without_flask(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("QUEUE_URL", "SMTP_HOST")}
    env.update(CRM_ENV="testing", SECRET_KEY="test-secret", FIELD_KEY=base64.b64encode(b"k" * 32).decode(),
               DATABASE_URL=f"sqlite:///{tmp_path / 'kernel.db'}")
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_web_config_is_gone_and_the_app_reads_settings():
    import settings
    import web

    assert importlib.util.find_spec("web.config") is None
    assert web.settings is settings
