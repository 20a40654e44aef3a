"""Real tools the tests, CI and operators need, fetched or built once per machine and cached.

Rule: I/O (downloads and builds through ``akops.process``, files). ``helm`` comes from the official
static build on PyPI (``helm``); Go programs are built from module sets pinned in ``tools/go/``
(``gobuild``); PgBouncer at each supported version is Debian's or built from its source tarball
(``pgbouncer``).

    python -m akops.tools helm          # prints the cached helm's path (the noxfile runs this)
    python -m akops.tools go NAME       # builds (once) and prints a registered Go program's path
    python -m akops.tools pgbouncer     # builds PgBouncer 1.24.1 (once) and prints its path
"""

from __future__ import annotations

from akops.tools.gobuild import ensure_go_program
from akops.tools.helm import HELM, Wheel, ensure_helm, helm_version
from akops.tools.programs import GoProgram

__all__ = ["HELM", "GoProgram", "Wheel", "ensure_go_program", "ensure_helm", "helm_version"]
