"""Runbooks as code: YAML procedures that are documents and executable runs.

Pure modules: ``schema`` (the format), ``template`` (step templates), ``commands``
(what a step runs, and what it may run), ``questions`` (what a step asks the operator),
``options`` (what a run is asked to do), ``markdown`` (``runbook.show`` and transcripts),
``transcript`` (the record of a run), ``validation`` (references to checks and tasks).
I/O modules: ``load`` (reading ``runbooks/``), ``masking`` (the secrets a run masks),
``resume`` (where an attempt starts), ``store`` (transcripts), ``checking`` (a check step:
the verify registry, in-process). On top: ``runner``, the step
machine, whose ``run(rb, opts, console, operator=None)`` is the public entry point; processes
start through ``akops.process`` and questions go through ``akops.ask``.
"""

from __future__ import annotations
