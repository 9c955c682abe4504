"""Loopback ports for servers started by tests and benchmarks."""
import socket


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on now (the OS picks it by binding port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
