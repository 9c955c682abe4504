"""Every package of the application is installed by `pip install -e .` (pyproject's package list), so the
app, the worker and the CLI import it from any working directory, not only from the checkout's root."""
import os
import re
import tomllib

from harness.workers import ROOT

NOT_INSTALLED = {"tests", "bench", "harness"}  # the suite, the benchmarks and what they share


def test_every_application_package_is_in_the_install_list():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        include = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]["include"]
    listed = {re.sub(r"\*$", "", pattern) for pattern in include}
    packages = {name for name in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, name, "__init__.py"))}
    assert packages - NOT_INSTALLED - listed == set(), "add them to [tool.setuptools.packages.find] include"
    assert listed <= packages, "listed but not in the checkout"
