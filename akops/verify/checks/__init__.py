"""The checks, one module per family: the check ``x.y`` lives in ``checks/x.py``.

Rule: each module defines its ``CHECKS`` (``akops.verify.check.Check`` values) with their
pure probe builders and verdicts; observation goes through the I/O modules of
``akops.verify`` (``fetch``, ``observe``, ``query``, ``execute``), imported inside the
observing functions so that reading the registry (``invoke --list``, ``--help``) stays cheap.
``akops.verify.registry`` gathers the families in order.
"""
