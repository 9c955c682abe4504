"""Builds slices of customers in worker processes while the calling process writes them.

Generating a customer costs about as much CPU as storing it, so even on two cores
building the next slices while the current one is written nearly halves a large run.
Slices come back in order and each depends only on its own bounds, so the data is
the same however many processes made it.
"""
import collections
import itertools
import multiprocessing
import os

from . import builder

PARALLEL_FROM = 20_000  # customers; below this, starting processes costs more than it saves
AHEAD = 3  # slices in flight per worker; bounds the memory held by finished slices
MAX_WORKERS = 3  # one writer cannot keep up with more

_context = None


def _start(context):
    global _context
    _context = context.prepare()


def _build(bounds):
    return builder.build(_context, *bounds)


def worker_count(total):
    # fork, because spawn would re-run the caller's main module, which a script that calls
    # generate() without a __main__ guard cannot survive; where fork is missing, run serially.
    if total < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


def slices(context, total, size):
    """Yield (start, stop, rows) for consecutive slices of `size` customers, in order."""
    bounds = [(start, min(total, start + size)) for start in range(0, total, size)]
    workers = worker_count(total)
    if not workers:
        context.prepare()
        for start, stop in bounds:
            yield start, stop, builder.build(context, start, stop)
        return
    # The children inherit the open database connection but never touch it, and leave by
    # os._exit, so they cannot close it under the parent.
    with multiprocessing.get_context("fork").Pool(workers, initializer=_start, initargs=(context,)) as pool:
        todo = iter(bounds)
        first = itertools.islice(todo, AHEAD * workers)
        pending = collections.deque((b, pool.apply_async(_build, (b,))) for b in first)
        while pending:
            (start, stop), result = pending.popleft()
            rows = result.get()
            following = next(todo, None)
            if following:
                pending.append((following, pool.apply_async(_build, (following,))))
            yield start, stop, rows
