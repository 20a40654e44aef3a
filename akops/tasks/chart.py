"""``chart.pull``: the environment's pinned Authentik chart into the user's cache.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from akops.tasks.common import ENV_HELP, exits, layout, resolve_env


@task(
    name="pull",
    help={
        "env": ENV_HELP,
        "dry_run": "say what would be pulled and whether it is cached already; pull nothing",
        "timeout": "seconds the chart repository gets for each step: the index, then helm pull "
        "(default 120)",
    },
)
def chart_pull(c: Context, env: str = "", dry_run: bool = False, timeout: str = "120") -> None:
    """helm pull the environment's pinned chart version into the user's cache, digest recorded."""
    repo = layout(c)
    from akops import chart as charts
    from akops.cli import seconds
    from akops.cluster.helm import helm_program
    from akops.environment import load_environment

    with exits():
        limit = seconds("timeout", timeout) or charts.PULL_TIMEOUT
        env = resolve_env(repo, env)
        chart = load_environment(env, repo.environments).authentik.chart
        source = f"{chart.name} {chart.version} from {chart.repo}"
        have = charts.cached(chart)
        if dry_run:
            state = f"cached at {have.archive} ({have.digest})" if have else "not cached"
            print(f"{source}: {state}; would pull it into {charts.cache_dir(chart)}")
            return
        pulled = charts.pull(chart, helm_program(skip_flag=False), timeout=limit)
        print(f"{source}: cached at {pulled.archive} ({pulled.digest})")


ns = Collection("chart", chart_pull)
