"""Talking to the cluster: connection, plans, server-side apply, rollouts, Helm.

Pure (data, nouns): ``objects`` (the stack's objects, identity, apply order),
``plan`` (normalisation, field diffs, masking, summary), ``convergence`` (rollout
predicate, fatal pod states), ``revisions``
(what a rollback would bring back: the config check).
I/O: ``connect`` (kubeconfig, context guard, deadlines, retries), ``call`` (REST with
plain dicts), ``apply`` (dry-run plan, apply, prune), ``rollout`` (watch and wait),
``helm`` (the release via the helm program), and
``changes`` (planning, applying, rolling back and watching the stack's changes: the
building blocks ``akops.ops`` runs as stages; the outpost's patches go to the Authentik
API through ``akops.authentik_api``). Nothing here imports ``akops.ops``,
``akops.lint`` or ``akops.verify``.
"""
