"""``chart.pull``: the environment's pinned Authentik chart into the user's cache.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from akops.requests import ChartPullRequest
from akops.tasks.common import exits, layout, operation


@operation(ChartPullRequest, name="pull")
def chart_pull(c: Context, req: ChartPullRequest) -> None:
    """helm pull the environment's pinned chart version into the user's cache, digest recorded."""
    from akops import chart as charts
    from akops.cluster.helm import helm_program
    from akops.environment import load_environment

    repo = layout(c)
    with exits():
        chart = load_environment(req.env, repo.environments).authentik.chart
        source = f"{chart.name} {chart.version} from {chart.repo}"
        have = charts.cached(chart)
        if req.dry_run:
            state = f"cached at {have.archive} ({have.digest})" if have else "not cached"
            print(f"{source}: {state}; would pull it into {charts.cache_dir(chart)}")
            return
        pulled = charts.pull(chart, helm_program(skip_flag=False), timeout=req.timeout)
        print(f"{source}: cached at {pulled.archive} ({pulled.digest})")


ns = Collection("chart", chart_pull)
