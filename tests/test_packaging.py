"""Every package of the application is installed by `pip install -e .` (pyproject's package list), so the
app, the worker and the CLI import it from any working directory, not only from the checkout's root; and a
non-editable install (`pip install .`, a wheel) carries every file the app serves or reads beside its code:
templates, static scripts and styles, vendored assets, notebooks, fonts, message catalogues, data files."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from harness.workers import ROOT

NOT_INSTALLED = {"tests", "bench", "harness"}  # the suite, the benchmarks and what they share
# Folders installed for the files they hold, not code (no __init__.py): reporting.registry reads them from ROOT.
DATA_FOLDERS = {"notebooks"}
SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def installed_folders():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        include = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    return {re.sub(r"\*$", "", pattern) for pattern in include}


def test_every_application_package_is_in_the_install_list():
    listed = installed_folders()
    packages = {name for name in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, name, "__init__.py"))}
    assert packages - NOT_INSTALLED - listed == set(), "add them to [tool.setuptools.packages.find] include"
    assert listed - DATA_FOLDERS <= packages, "listed but not in the checkout"
    assert DATA_FOLDERS <= listed, "the notebooks the reports run must be installed"


def files_of_the_tree():
    """Every file under the installed folders, as the wheel names it (the tree is the list)."""
    found = {"run.py"}
    for folder in installed_folders():
        for directory, subdirs, files in os.walk(os.path.join(ROOT, folder)):
            subdirs[:] = [name for name in subdirs if name not in SKIPPED_DIRS]
            found.update(os.path.relpath(os.path.join(directory, name), ROOT).replace(os.sep, "/")
                         for name in files if not name.endswith(".pyc"))
    return found


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    """Build the wheel once, from a copy of what it is built from (setuptools writes build/ and egg-info where
    it builds, and the checkout is shared), with the installed setuptools: no network, a few seconds."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "run.py"):
        shutil.copy(os.path.join(ROOT, name), source)
    for folder in installed_folders():
        shutil.copytree(os.path.join(ROOT, folder), source / folder,
                        ignore=shutil.ignore_patterns(*SKIPPED_DIRS, "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(out)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_every_file_of_the_packages(wheel_names):
    missing = sorted(files_of_the_tree() - wheel_names)
    assert missing == [], "add them to [tool.setuptools.package-data] in pyproject.toml"


def test_the_wheel_carries_what_the_pages_and_reports_load(wheel_names):
    # the files named in issue reports: a wheel without them serves pages without scripts and runs no reports
    for name in ("web/static/csp-handlers.js", "web/static/report-builder.js", "web/static/report-builder.css",
                 "web/static/admin.css", "web/static/vendor/echarts/echarts.min.js",
                 "web/static/vendor/swagger-ui/swagger-ui-bundle.js", "admin/templates/admin/report_builder/index.html",
                 "reportbuilder/report.ipynb", "notebooks/value.ipynb", "analytics/fonts/wqy-microhei.ttc",
                 "i18n/admin_messages/zh_Hans_CN.po"):
        assert name in wheel_names
