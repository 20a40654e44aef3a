"""What rolling a Deployment back to an earlier revision would bring back, and what not.

Rule: pure. Plain dicts as the API returns them. A rollback restores a pod template,
not the ConfigMaps it mounts: the restored pods read the *current* ConfigMap. The
template records which config it was made for in its ``checksum/config`` annotation
(``akops.stack.checksum`` of ``pgbouncer.ini``, set at render time); ``config_drift``
compares that with the live ConfigMap's text and says why they differ, if they do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akops.stack import checksum

CHECKSUM_ANNOTATION = "checksum/config"
CONFIG_KEY = "pgbouncer.ini"
SHORT = 12


def config_maps(template: Mapping[str, Any]) -> list[str]:
    """Names of the ConfigMaps a pod template mounts as volumes, in order."""
    volumes = ((template.get("spec") or {}).get("volumes")) or []
    return [
        str(v["configMap"]["name"])
        for v in volumes
        if isinstance(v, dict) and (v.get("configMap") or {}).get("name")
    ]


def config_drift(
    revision: int,
    template: Mapping[str, Any],
    config_map: Mapping[str, Any] | None,
    *,
    name: str,
    key: str = CONFIG_KEY,
) -> str | None:
    """Why the pods of ``template`` would not run the config they were made for; None if they would.

    ``config_map`` is the live ConfigMap ``name`` (``None``: it does not exist).
    """
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(CHECKSUM_ANNOTATION)
    if not recorded:
        return (
            f"revision {revision} records no {CHECKSUM_ANNOTATION} annotation, so whether "
            f"{key} changed since cannot be told"
        )
    if config_map is None:
        return f"ConfigMap/{name} does not exist"
    text = (config_map.get("data") or {}).get(key)
    if not isinstance(text, str):
        return f"ConfigMap/{name} has no {key}"
    live = checksum(text)
    if live == recorded:
        return None
    return (
        f"{key} in ConfigMap/{name} changed since revision {revision} "
        f"({CHECKSUM_ANNOTATION} {str(recorded)[:SHORT]}, live {live[:SHORT]})"
    )
