"""Make every lesson step open at once: compute ahead, on the shipped runs, what a step's view would
otherwise compute on its first visit, and keep it where the view looks for it.

A step opens on a shipped run, but some views still do seconds of work the first time anyone opens
them on a server: the factor probe fits 5-fold linear read-outs, the evolution projects each snapshot
with UMAP, the map check draws six maps. Both keep their results in the run's folder (factor_probe.probe_source, the projection
cache), so they need doing once per store. `warm_jobs` lists that work for every lesson; the
Lessons page queues it at the lowest priority in the server's compute child (a user's own
projection goes first), and a step opened after it is drawn from the cache.

The parameters a view uses are defined here (`evolution_params`) and read by the view
(sslviz/ui/lesson_views.py), so the warm-up fills exactly the cache the view reads.
"""

from __future__ import annotations

from sslviz.embeddings.projection import ProjectionParams

EVOLUTION_POINTS = 2000  # points in a lesson's evolution view: the shipped runs' 2,000 test images


def map_points(settings: dict) -> int:
    from sslviz.embeddings.map_check import DEFAULT_POINTS

    return int(settings.get("points", DEFAULT_POINTS))


def evolution_params(settings: dict) -> ProjectionParams:
    return ProjectionParams(method=settings.get("method", "umap"), max_points=int(settings.get("points", EVOLUTION_POINTS)))


def warm_step(root: str, view: str, settings: dict, run_id: str) -> str:
    """Compute and cache the slow part of one step's view for run `run_id` (in the compute child)."""
    from sslviz.training.runs import RunStore

    store = RunStore(root)
    if view == "factor-probe":
        from sslviz.embeddings.factor_probe import probe_run

        probe_run(store, run_id, None)
    elif view == "evolution":
        from sslviz.embeddings import embedding as E
        from sslviz.embeddings.alignment import frame_epochs, project_sequence, sequence_inputs

        run_dir = store.run_dir(run_id)
        params = evolution_params(settings).validate()
        _, feats, caches = sequence_inputs(run_id, run_dir, frame_epochs(E.snapshot_epochs(run_dir)), params)
        if len(feats) >= 2:
            project_sequence(feats, params, caches)
    elif view == "map-check":
        from sslviz.embeddings.map_check import map_check_in

        map_check_in(root, run_id, None, map_points(settings), 0)
    return run_id


SLOW_VIEWS = ("factor-probe", "evolution", "map-check")


def warm_jobs(store, lessons) -> list[tuple[str, tuple]]:
    """(job key, warm_step's arguments) for every slow step of `lessons` whose shipped run is installed."""
    from .pretrained.install import installed

    have = installed(store)
    out, seen = [], set()
    for lesson in lessons:
        for step in lesson.steps:
            run_id = have.get(step.settings.get("run", ""))
            if step.view not in SLOW_VIEWS or run_id is None:
                continue
            key = f"lesson-warm|{store.root}|{step.view}|{run_id}|{sorted(step.settings.items())}"
            if key not in seen:
                seen.add(key)
                out.append((key, (str(store.root), step.view, dict(step.settings), run_id)))
    return out
