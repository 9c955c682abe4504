"""Small timing helpers shared by the benchmarks: medians over repeated runs, with warm-up."""
import gc
import statistics
import time


def measure(fn, runs=30, warmup=10):
    """Run fn warmup+runs times; return (median_ms, p90_ms) of the timed runs.

    Garbage left by the previous case is collected first, so one case does not pay for another.
    """
    gc.collect()
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def measure_interleaved(cases, runs=30, warmup=10):
    """Time several callables in rounds, each round calling each once; {key: (median_ms, p90_ms)}."""
    gc.collect()
    samples = {key: [] for key in cases}
    for round_no in range(warmup + runs):
        for key, fn in cases.items():
            start = time.perf_counter()
            fn()
            if round_no >= warmup:
                samples[key].append((time.perf_counter() - start) * 1000)
    result = {}
    for key, values in samples.items():
        values.sort()
        result[key] = (statistics.median(values), values[int(len(values) * 0.9) - 1])
    return result


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peak_rss_mb():
    """This process's peak resident memory in MiB (VmHWM).  Not ru_maxrss: Linux carries that over
    from the parent through fork and exec, so a case spawned by a large process (pytest, a bench
    that generated its data) would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
