"""The checks, one module per family: the check ``x.y`` lives in ``checks/x.py``.

Rule: pure. Each module defines its ``CHECKS`` (``akops.verify.check.Check`` values) with
their probe builders and verdicts, and declares how each is observed: a ``Shell`` (a
command the runner execs) or an ``Observation`` (what to read, and the verdict on it). The
reading is I/O and lives apart, in ``akops.verify.observe``; heavy models are imported
inside the verdicts so that reading the registry (``invoke --list``, ``--help``) stays cheap.
``akops.verify.registry`` gathers the families in order.
"""
