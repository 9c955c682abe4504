"""For tests of code that reads rows and then writes: make another connection commit in the middle."""
import threading

from models import User, db


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
