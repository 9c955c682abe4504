"""For tests of what happens while another connection writes: holding a lock, as a long import would, or
committing in the middle of a reader's work."""
import sqlite3
import threading

from models import User, db


class HeldLock:
    """Another connection in the middle of a long write: on SQLite the file's one write lock (BEGIN IMMEDIATE);
    on PostgreSQL, where writers do not exclude each other, whatever `postgresql` (a statement, with `params`)
    locks: a customer's row, a table."""

    def __init__(self, url, postgresql, params=()):
        self.url, self.postgresql, self.params = url, postgresql, params

    def __enter__(self):
        if self.url.startswith("sqlite"):
            self.connection = sqlite3.connect(self.url[len("sqlite:///"):], isolation_level=None)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg2

            self.connection = psycopg2.connect(self.url)
            self.connection.cursor().execute(self.postgresql, self.params)
        return self

    def __exit__(self, *exc):
        if self.url.startswith("sqlite"):
            self.connection.execute("ROLLBACK")
        else:
            self.connection.rollback()
        self.connection.close()


def commits_meanwhile(function):
    """`function`, wrapped so that each call first lets another connection (a thread of its own, as another
    process would) commit a write.  On SQLite a SELECT still open in the caller keeps its snapshot, and the
    caller's next write then fails at once ("database is locked") instead of waiting its turn."""
    def wrapped(*args, **kwargs):
        def write():
            with db.connection_context():
                User.update(email="someone@example.com").where(User.username == "admin").execute()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        return function(*args, **kwargs)

    return wrapped
