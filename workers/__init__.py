"""Celery workers of designsvc: ``celery_app`` (settings, queues ``cpu`` and ``gpu``) and
``tasks`` (one thin task, ``designsvc.run_job``). Start one with
``designsvc worker --redis URL [--queues cpu,gpu] [--concurrency N]``."""
