"""akops: the library behind the Authentik + PgBouncer ops repository.

Entry points (tasks.py, noxfile.py, checks/) stay thin; every piece of logic
lives here. Pure modules (models, rendering, diffing, rules) are kept apart from
the modules that do I/O (Kubernetes API, subprocesses, HTTP).
"""

from __future__ import annotations

__version__ = "0.1.0"
