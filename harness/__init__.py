"""Real servers and worker processes for the test suite and the benchmarks alike.

The benchmarks need the same loopback SMTP server, free ports and `run.py worker` processes as the
tests; they live here so neither imports the other (bench/ never imports tests/).  Nothing in the
application imports this package.

    harness.network    free_port()
    harness.smtp       Recorder (an aiosmtpd handler keeping every mail), running(**kwargs)
    harness.workers    workers(...) real `run.py worker` processes, kill(), wait_for(), FIELD_KEY, ROOT
    harness.reports    the subscription test reports, demo users' addresses, mail settings, mail parsing
"""
