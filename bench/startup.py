"""How long a process takes to start: the web app, `run.py --help` and a worker, before and after a change.

    .venv/bin/python -m bench.startup                      # 10 rounds, before = BEFORE below, after = HEAD
    .venv/bin/python -m bench.startup --rounds 20 --before REV --after REV --write-docs

Each side is a copy of the code at a git revision (`git archive`, in a temporary directory), so both are committed
code and nothing else in the working tree counts.  Every case is a fresh interpreter of this venv started in that
copy (the copy's packages come first on sys.path), timed from spawn to exit:

  python -c pass     the bare interpreter with the venv's site-packages: the floor of every process
  run.py --help      the command line printing its help (what every `run.py` command pays before its work)
  create_app         `from web import create_app; create_app()`: the web process (waitress, `run.py serve`)
                     and every `run.py` command that needs the app, up to its first request
  worker start       what `run.py worker` does before it takes a task: the configuration, the models bound,
                     every module that registers jobs imported (jobs.worker.load_config, jobs.discover)

Rounds run every case on both sides in turn, so a burst of load on the shared machine falls on all of them.
Reported per case and side: the median wall time and the median CPU time (user + system, from wait4), which
the machine's load disturbs much less; the ratio after / before of the CPU; and each case less the bare
interpreter's CPU (what the project's own imports cost).
"""
import argparse
import base64
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from bench.timing import progress
from bench.workspace import write_docs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The last commit before papermill, nbformat, pandas and the CLV models left the start of the web app, the CLI and
# the worker (the commits after it: "exports.document: analytics.tables (pandas) imported by shown() ..." and
# "Start-up: papermill, nbformat and nbconvert are imported where ..."; others' commits lie between them and HEAD).
BEFORE = "78d9b0a"
CASES = {
    "python -c pass": ["-c", "pass"],
    "run.py --help": ["run.py", "--help"],
    "create_app": ["-c", "from web import create_app; create_app()"],
    "worker start": ["-c", "from jobs import worker; worker.load_config(); worker.discover(())"],
}


def checkout(revision, directory):
    """The tree of `revision` written into `directory` (git archive: no .git, nothing uncommitted)."""
    archive = os.path.join(directory, "tree.tar")
    with open(archive, "wb") as handle:
        subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, stdout=handle, check=True)
    tree = os.path.join(directory, "tree")
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    os.remove(archive)
    return tree


def environment(scratch):
    """A configuration every case can start with (testing: no key files), on databases of its own."""
    env = {**os.environ, "CRM_ENV": "testing", "DATABASE_URL": f"sqlite:///{scratch}/start.db",
           "QUEUE_URL": f"sqlite:///{scratch}/queue.db", "SECRET_KEY": "bench-startup",
           "FIELD_KEY": base64.b64encode(b"k" * 32).decode()}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up compiles each copy's .pyc once, as a deployment has them
    return env


def spawn(tree, arguments, env):
    """(wall seconds, CPU seconds) of one process: `python arguments...` started in `tree`."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, *arguments], cwd=tree, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{arguments} in {tree} exited {process.returncode}:\n{error}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(trees, env, rounds, warmup=1):
    """{(side, case): [(wall, cpu), ...]} over `rounds` rounds after `warmup` (which also compiles the .pyc)."""
    samples = {(side, case): [] for side in trees for case in CASES}
    for round_no in range(warmup + rounds):
        for case, arguments in CASES.items():
            for side, tree in trees.items():
                timing = spawn(tree, arguments, env)
                if round_no >= warmup:
                    samples[(side, case)].append(timing)
        progress(f"round {round_no + 1 - warmup}/{rounds}" if round_no >= warmup else "warm-up done")
    return samples


def medians(values):
    return statistics.median(wall for wall, _ in values), statistics.median(cpu for _, cpu in values)


def table(samples, labels, rounds):
    before, after = labels
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    floor = {side: medians(samples[(side, "python -c pass")])[1] for side in labels}
    lines = [
        f"Run of {time.strftime('%Y-%m-%d %H:%M')} UTC, median of {rounds} rounds; before = `{labels[before]}`, "
        f"after = `{labels[after]}`; load average at the end {load} (1 / 5 / 15 min) on {os.cpu_count()} cores.",
        "",
        "| process | wall before | wall after | CPU before | CPU after | CPU after / before "
        "| CPU beyond `python -c pass` before → after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        wall_before, cpu_before = medians(samples[(before, case)])
        wall_after, cpu_after = medians(samples[(after, case)])
        beyond = ("—" if case == "python -c pass" else
                  f"{cpu_before - floor[before]:.2f} s → {cpu_after - floor[after]:.2f} s")
        lines.append(f"| {case} | {wall_before:.2f} s | {wall_after:.2f} s | {cpu_before:.2f} s | {cpu_after:.2f} s "
                     f"| {cpu_after / cpu_before:.2f}x | {beyond} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"revision of the 'before' side (default {BEFORE})")
    parser.add_argument("--after", default="HEAD", help="revision of the 'after' side (default HEAD)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--write-docs", action="store_true", help="rewrite the table in docs/benchmarks.md")
    args = parser.parse_args()
    revisions = {"before": args.before, "after": args.after}
    labels = {side: subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout.strip() for side, revision in revisions.items()}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        trees = {}
        for side, revision in revisions.items():
            os.makedirs(os.path.join(scratch, side))
            trees[side] = checkout(revision, os.path.join(scratch, side))
        progress(f"before {labels['before']}, after {labels['after']}: {args.rounds} rounds")
        samples = measure(trees, environment(scratch), args.rounds)
    markdown = table(samples, labels, args.rounds)
    print(markdown)
    if args.write_docs:
        write_docs(markdown, section="startup")


if __name__ == "__main__":
    main()
