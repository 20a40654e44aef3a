"""The PNG plot of a rehearsal's series, with its events marked.

Rule: I/O (writes one file). matplotlib with the Agg backend: no display is needed, and it
is imported here only, so nothing else pays for it.
"""

from __future__ import annotations

from pathlib import Path

from akops.rehearse.timeline import Timeline

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PgBouncer clients and servers", ("cl_active", "cl_waiting", "server_connections")),
    ("PostgreSQL", ("pg_connections", "lock_waiters", "ghosts")),
    ("connection acquire (ms)", ("acquire_p50_ms", "acquire_p99_ms")),
    ("/dev/shm used (%)", ("shm_used_pct",)),
)
EVENT_COLOURS = {
    "fault": "red",
    "runbook-start": "purple",
    "runbook-end": "purple",
    "act-start": "grey",
}


def write(timeline: Timeline, factor: float, path: Path, title: str) -> Path | None:
    """Write the plot; None when nothing was sampled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (name, [s for s in series if any(s in x.values for x in timeline.samples)])
        for name, series in PANELS
    ]
    panels = [(n, s) for n, s in panels if s]
    checks = sorted({c.check for c in timeline.checks})
    rows = len(panels) + (1 if checks else 0)
    if rows == 0:
        return None
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.3 * rows), sharex=True, squeeze=False)
    for ax, (name, series) in zip(axes[:, 0], panels, strict=False):
        for s in series:
            pts = [(x.t * factor, x.values[s]) for x in timeline.samples if s in x.values]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=s, linewidth=1.2)
        ax.set_title(name, fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    if checks:
        ax = axes[-1, 0]
        for i, check in enumerate(checks):
            samples = [c for c in timeline.checks if c.check == check]
            ax.scatter(
                [c.t * factor for c in samples],
                [i] * len(samples),
                c=["tab:green" if c.ok else "tab:red" for c in samples],
                s=8,
            )
        ax.set_yticks(range(len(checks)), checks, fontsize=7)
        ax.set_title("checks (green pass, red fail)", fontsize=9, loc="left")
    for ax in axes[:, 0]:
        for ev in timeline.events:
            colour = EVENT_COLOURS.get(ev.kind)
            if colour:
                ax.axvline(ev.t * factor, color=colour, linestyle="--", linewidth=0.8, alpha=0.7)
    axes[-1, 0].set_xlabel(f"production seconds (rehearsal seconds × {factor:g})")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
