"""The task queue: huey on SQLite in the instance folder by default, Redis to scale out.

QUEUE_URL chooses the storage (the app's configuration, else the environment):

    sqlite:///path/to/queue.db   the default is instance/queue.db: no server to run
    redis://host:6379/0          several workers on several machines share one queue

Tasks are declared once, at import, on the single `queue`; which storage it talks to is
decided by `configure()` and opened on first use, so importing this module touches no
file and tests point it at their own tmp paths.  Never imports Flask.
"""
import os
import threading
import time
from urllib.parse import urlparse

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

NAME = "crm"
_lock = threading.Lock()
# Every running worker writes the time into the queue's storage this often (its scheduler loop), so
# the web process can tell a run that waits its turn from one that waits for a worker nobody started.
HEARTBEAT_KEY = "worker-heartbeat"
HEARTBEAT_S = 5
# No heartbeat for this long: no worker reads this queue (several missed beats, for a busy machine).
WORKER_GONE_S = 30


def default_url():
    from settings import INSTANCE

    return "sqlite:///" + os.path.join(INSTANCE, "queue.db")


def queue_url(config=None):
    """QUEUE_URL from `config`, else the environment, else instance/queue.db."""
    return (config or {}).get("QUEUE_URL") or os.environ.get("QUEUE_URL") or default_url()


def open_storage(url, name=NAME):
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path  # sqlite:///rel or ////abs
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteStorage(name, filename=path, timeout=10)
    if parsed.scheme in ("redis", "rediss", "unix"):
        # blocking: idle workers wait on BRPOP and take a task the moment it is queued
        return RedisStorage(name, url=url, blocking=True, read_timeout=1)
    raise ValueError(f"QUEUE_URL 不支持 {parsed.scheme!r}：应为 sqlite:///路径 或 redis://主机:端口/库")


class Queue(Huey):
    """A huey whose storage is chosen by configure() and opened lazily.

    Timestamps are local time (utc=False), so a schedule "0 8 * * *" means 08:00 where
    the worker runs, as the admin reads it.  Periodic tasks are not huey's own decorated
    functions: read_periodic asks `periodic_source` (the job registry) what is due.
    """

    def __init__(self):
        self.url = None
        self._storage = None
        self.periodic_source = lambda timestamp: []
        super().__init__(NAME, results=False, utc=False)

    def get_storage(self, **kwargs):
        return None  # opened on first use, from self.url

    @property
    def storage(self):
        if self._storage is None:
            with _lock:
                if self._storage is None:
                    self._storage = open_storage(self.url or queue_url())
        return self._storage

    @storage.setter
    def storage(self, value):
        self._storage = value

    def configure(self, url):
        """Use the queue at `url` from now on (no-op when it is the one in use)."""
        with _lock:
            if url == self.url and self._storage is not None:
                return
            old, self._storage, self.url = self._storage, None, url
        if old is not None and hasattr(old, "close"):
            old.close()

    def beat(self, now=None):
        """A worker's sign of life (see HEARTBEAT_KEY); the latest of any worker wins."""
        self.storage.put_data(HEARTBEAT_KEY, repr(time.time() if now is None else now).encode())

    def last_beat(self):
        """time.time() of the latest worker heartbeat on this queue, or None if no worker ever beat."""
        value = self.storage.peek_data(HEARTBEAT_KEY)
        try:
            return float(bytes(value).decode())
        except (TypeError, ValueError):  # huey's EmptyData: no worker has written one
            return None

    def worker_running(self, now=None):
        """Whether a worker has beaten within WORKER_GONE_S (False when none ever did)."""
        beat = self.last_beat()
        return beat is not None and (time.time() if now is None else now) - beat < WORKER_GONE_S

    def read_periodic(self, timestamp):
        if timestamp is None:
            timestamp = self._get_timestamp()
        return list(self.periodic_source(timestamp))


queue = Queue()
