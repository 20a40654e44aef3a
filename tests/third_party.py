"""Third-party test inputs, found only through ``akops.layout.third_party_data``.

The real Authentik chart, the source of prod's PgBouncer and the seed's original files are
not this project's to copy; they live in the folder ``$AKOPS_TEST_DATA`` names (default
``../shared``). A test that needs one that is missing is skipped with one line naming the
setting and what the folder holds (``nox -s tests`` refuses to start without the folder).
The unit tests need none of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.layout import missing_test_data, third_party_data

#: The real Authentik chart at the version prod pins (helm can template it).
CHART = ("charts", "authentik-2026.2.2", "authentik")


def third_party(*parts: str, holds: str) -> Path:
    """The path under the test-data folder, or a skip naming the setting and ``holds``."""
    path = third_party_data(*parts)
    if not path.exists():
        pytest.skip(missing_test_data(path, holds))
    return path
