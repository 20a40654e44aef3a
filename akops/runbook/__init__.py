"""Runbooks as code: YAML procedures that are documents and executable runs.

Pure modules: ``schema`` (the format), ``template`` (step templates), ``commands``
(what a step runs), ``markdown`` (``runbook.show`` and transcripts), ``transcript``
(the record of a run), ``validation`` (references to checks and tasks). I/O modules:
``load`` (reading ``runbooks/``), ``execute`` (running steps), ``store`` (transcripts).
"""

from __future__ import annotations
