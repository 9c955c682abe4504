"""`run.py worker`: huey's consumer on the configured queue, with the periodic jobs.

The worker reads the app's configuration (settings: DATABASE_URL, FIELD_KEY, QUEUE_URL)
and binds the models as the app does, without building the app: the admin screens and
their imports (papermill, nbformat) would double its start-up time for nothing.  Each
task then opens its own database connection.
"""
import logging
import os
import sys
import time
from contextlib import contextmanager

from huey.consumer import Consumer, Scheduler

from . import available, configure, discover, queue
from .queue import HEARTBEAT_S

# How far past the minute the periodic check runs: clear of the boundary, so the clock says the
# new minute even if the monotonic and wall clocks disagree by a little.
PAST_THE_MINUTE_S = 0.2


def seconds_to_next_minute(wall_time):
    """Seconds from `wall_time` (time.time()) to just past the next whole minute of the clock."""
    return 60 - wall_time % 60 + PAST_THE_MINUTE_S


class MinuteScheduler(Scheduler):
    """huey's scheduler, checking the periodic jobs just after each minute of the clock begins.

    huey checks them every 60 s counted from the worker's start, so a job due at 08:00 (a
    subscription falling due, say) was planned anywhere up to a minute late — 34 s in a
    benchmark run.  The first check still runs at start; each later one at hh:mm:00.2.
    """

    def loop(self, now=None):
        """huey's loop (once a second), and the worker's heartbeat every HEARTBEAT_S (the web
        process reads it to tell whether a worker reads the queue at all)."""
        if time.monotonic() >= getattr(self, "_next_beat", 0):
            self._next_beat = time.monotonic() + HEARTBEAT_S
            try:
                self.huey.beat()
            except Exception:  # noqa: BLE001 - storage unreachable for a moment: the next beat tries again
                self._logger.exception("worker heartbeat not written")
        super().loop(now)

    def enqueue_periodic_tasks(self, now):
        super().enqueue_periodic_tasks(now)
        self._next_periodic = time.monotonic() + seconds_to_next_minute(time.time())


class MinuteConsumer(Consumer):
    scheduler_class = MinuteScheduler


class ThreadConsumer(MinuteConsumer):
    """The same consumer, started on threads of a process that keeps its own signal handlers
    (huey's start() would take SIGINT and SIGTERM from it)."""

    def _set_signal_handlers(self):
        pass


@contextmanager
def in_process(config=None, workers=1, periodic=False, modules=()):
    """A real worker on threads of this process, reading the queue `config` names, until the block ends.

        with jobs.worker.in_process(app.config):
            ...  # tasks enqueued on QUEUE_URL run here, as `run.py worker` would run them

    For tests and benchmarks whose process holds state a `run.py worker` would not have (reports
    registered at run time, an output folder of their own).  On leaving, the worker finishes the
    task it is running and stops; tasks still queued stay queued.  periodic=True also runs the
    registered periodic jobs when due.
    """
    configure(config)
    discover(modules)
    consumer = ThreadConsumer(queue, workers=workers, worker_type="thread", periodic=periodic,
                              initial_delay=0.1, backoff=1.15, max_delay=0.5)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop(graceful=True)


def load_config():
    """The app's configuration, with the models bound to its database (raises ConfigError)."""
    import models
    import settings
    from models import sealed

    config = settings.load()
    sealed.configure(*settings.field_keys(config))
    models.bind(config["DATABASE_URL"], busy_seconds=config.get("DATABASE_BUSY_SECONDS"))
    return config


def reap_at_start(echo=print):
    """Runs a killed worker left "running" are failed before this worker takes new work (jobs.reaping):
    after a crash and restart nobody should wait for the lost worker's runs."""
    from .reaping import reap

    try:
        lost = {label: n for label, n in reap().items() if n}
    except Exception:  # noqa: BLE001 - the database is not reachable yet: the periodic job tries again
        logging.getLogger("jobs").exception("启动时检查遗留的运行失败")
        return
    for label, n in lost.items():
        echo(f"  {label}：{n} 个由已退出的后台进程遗留的运行已标为失败")


def run(config, workers=2, modules=(), echo=print):
    """Run the consumer until SIGINT (finish the running tasks) or SIGTERM (stop now)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s [worker {os.getpid()}] %(name)s: %(message)s")
    configure(config)
    discover(modules)
    url = queue.url
    shown = url.split("@")[-1] if url.startswith("redis") else url  # no password in the log
    echo(f"后台任务 worker（pid {os.getpid()}）：队列 {shown}，{workers} 个线程")
    reap_at_start(echo)
    jobs = available()
    if not jobs:
        echo("  没有已注册的定时任务")
    for job in jobs:
        upcoming = job.next_run()
        state = f"下次 {upcoming:%Y-%m-%d %H:%M}" if upcoming else "已停用" if not job.enabled else "不会运行"
        echo(f"  {job.name:<24} {job.schedule:<16} {state}  {job.description}")
    # Polling SQLite costs little: check at least every second when idle (huey's default
    # backs off to 10 s). Redis blocks on BRPOP and hands a task over at once.
    consumer = MinuteConsumer(queue, workers=workers, worker_type="thread", periodic=True,
                              initial_delay=0.1, backoff=1.15, max_delay=1.0)
    consumer.run()
