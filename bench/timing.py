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
