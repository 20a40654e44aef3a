"""The operations behind the invoke tasks: plan, apply, deploy, roll back, watch a rollout.

Rule: orchestration, the top layer of the library. Every operation is a pipeline of
typed stages (``stages``) over one typed run state (``stages.Run``), run by
``pipeline``; ``apply`` is the deploy pipeline without its lint and verify stages.
Stages call down into ``akops.cluster`` (the cluster), ``akops.lint`` and
``akops.verify``; nothing below this package imports it.
"""
