"""Executors: where stored jobs run. ``local`` (a process pool in this process, the embedded
default) and ``celery`` (workers on other machines, through a Redis broker). Both run
``designsvc.services.jobs.execute_job`` on a job id."""
