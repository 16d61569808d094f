""""Find the collapse": broken variants of four methods, each one documented method parameter away
from a healthy run, small enough to train live in under a minute on 2 CPU cores.

VARIANTS is the catalogue, as data, for a lesson step and the Train page. Each entry:

  name           the variant's id (also its shipped lite run: sslviz/teaching/pretrained/lite.py)
  title          how the step names it
  config         the RunConfig fields it trains with (`run_config(name)` makes the RunConfig)
  broken         the one setting that breaks it ({"method_params": {...}} or {"pipeline": ...})
  healthy_twin   the zoo entry of the same method trained as its recipe says, for much longer
                 (sslviz/teaching/pretrained: 240-300 s)
  same_budget_twin  the shipped lite run of the same config with the broken setting restored, at
                 the same budget (TWINS, or SimCLR's temperature-0.2 run): what the gallery
                 compares with, like with like
  healthy        the setting that mends it: `twin_config(name)` is the variant with it restored
  what_breaks    one sentence: what goes wrong, and why
  how_to_spot    which gauge shows it, in words
  measure        that gauge as a key (`tells_apart`): "collapse" (the collapse gauge warns, and not
                 for the twin: sslviz.evaluation.collapse_gauge.collapse_warnings), "agreement" (the
                 two branches' cosine far above the twin's), "knn" (kNN far below the twin's),
                 "colour" (the factor probe reads the shape's colour far better than in the twin)

TEMPERATURES holds the three SimCLR runs on shapes that differ only in their temperature, shipped
the same way, for the temperature explorer (sslviz/ui/contrastive_views.py).
Budgets are wall clock (time_budget, LIVE_BUDGET for every run here), like every run; the monitor
scores 1,000 held-out images so that the per-epoch evaluation stays a small part of the run.
In a minute not every variant collapses: the measurements below say which gauge shows what.
"""

from __future__ import annotations

import copy

LIVE_BUDGET = 50.0  # seconds: a variant trains live within the minute a step allows
_BASE = dict(epochs=10_000, seed=0, device="cpu", eval_train_max=1000, eval_test_max=1000,
             time_budget=LIVE_BUDGET)


def _no_colour_pipeline() -> dict:
    """The shapes recipe's augmentations without colour jitter and grayscale (as the zoo's
    simclr-shapes-no-colour entry: sslviz/teaching/pretrained/__init__.py config_for)."""
    from sslviz.training.recipes import default_pipeline

    p = default_pipeline("shapes")
    p.jitter_p, p.gray_p = 0.0, 0.0
    return p.to_dict()


def _entry(name, title, method, broken, healthy, twin, what_breaks, how_to_spot, measure):
    config = dict(_BASE, method=method, dataset="shapes", name=f"{title} (find the collapse)")
    if "method_params" in broken:
        config["method_params"] = dict(broken["method_params"])
    if broken.get("pipeline"):
        config["pipeline"] = _no_colour_pipeline()
    same_budget = f"{method}-shapes-t0.2" if method == "simclr" else f"{method}-shapes-healthy"
    return {"name": name, "title": title, "config": config, "broken": broken, "healthy": healthy,
            "healthy_twin": twin, "same_budget_twin": same_budget, "what_breaks": what_breaks,
            "how_to_spot": how_to_spot, "measure": measure}


# Measured on shapes at 16 px, 2 epochs (124 steps at batch 128, VICReg 62 at 256), variant against its
# twin, on a loaded 2-core machine, 2026-12-07 (the untrained network: kNN 0.288, effective rank 30.3):
#   SimSiam, no stop-gradient   effective rank 2.6 vs 3.8, kNN 0.226 vs 0.256, agreement (cosine) 0.953 vs
#                               0.846; with 8 epochs the rank stays at 1.7-1.9 and the agreement at 0.98-1.0
#   BYOL, no predictor          effective rank 4.0 vs 4.9, kNN 0.271 vs 0.282, agreement 0.931 vs 0.747
#   VICReg, no variance term    effective rank 1.9 vs 5.0, kNN 0.169 vs 0.363 (its variance term, unweighted,
#                               0.98: the expander's output is one point)
#   SimCLR, temperature 0.01    kNN 0.309 vs 0.417 (t = 0.2), uniformity -0.28 vs -0.33, positive found
#                               among the batch 0.11 vs 0.22; at 0.05 kNN 0.382, at 1.0 0.257 (effective
#                               rank 3.3: too high a temperature squeezes the embedding too)
#   SimCLR, no colour changes   the factor probe's colour R² 0.854 vs 0.326, kNN 0.165 vs 0.412
# (tests/test_variants.py trains each pair so and holds `tells_apart` to it.)
VARIANTS: list[dict] = [
    _entry("simsiam-no-stop-gradient", "SimSiam without the stop-gradient", "simsiam",
           {"method_params": {"stop_gradient": False}}, {"method_params": {"stop_gradient": True}}, "simsiam-shapes",
           "With the gradient flowing through both branches, the two views can simply be moved onto each other: "
           "the loss heads for its floor (-1) at once and the embedding squeezes into one or two directions.",
           "The agreement of the two branches (the loss's cosine) jumps towards 1, far above the healthy run's, "
           "while the effective rank falls to about 2 (half the healthy run's, which also dips in its first "
           "minute) and kNN falls below the untrained network's.", "agreement"),
    _entry("byol-no-predictor", "BYOL without its predictor", "byol",
           {"method_params": {"predictor": False}}, {"method_params": {"predictor": True}}, "byol-shapes",
           "Without the predictor the online network only has to copy its own slow average: the two networks "
           "agree almost at once, and agreement that costs nothing teaches nothing.",
           "Not yet the gauge in a minute: the agreement between prediction and target (the loss's cosine) "
           "jumps to about 0.93 where the healthy run sits near 0.75; kNN has not moved from the untrained "
           "network's.", "agreement"),
    _entry("vicreg-no-variance", "VICReg without its variance term", "vicreg",
           {"method_params": {"std_coeff": 0.0}}, {"method_params": {"std_coeff": 25.0}}, "vicreg-shapes",
           "Invariance pulls the two views of an image together and nothing keeps different images apart any "
           "more: the variance term was the only thing that did.",
           "The collapse gauge: the effective rank falls to about 2, the (unweighted) variance term reads "
           "nearly 1, and kNN falls to chance.", "collapse"),
    _entry("simclr-low-temperature", "SimCLR at a far too low temperature (0.01)", "simclr",
           {"method_params": {"temperature": 0.01}}, {"method_params": {"temperature": 0.2}}, "simclr-shapes",
           "At temperature 0.01 the softmax sees only the single hardest negative of each anchor, so each step "
           "pushes a few near-duplicates apart and ignores what makes images alike.",
           "Not the collapse gauge (nothing collapses): kNN stays far below the healthy run's and uniformity "
           "does not improve on the untrained network's.", "knn"),
    _entry("simclr-no-colour", "SimCLR on shapes without colour changes", "simclr",
           {"pipeline": "no colour jitter, no grayscale"}, {"pipeline": "the shapes recipe"}, "simclr-shapes",
           "When both views always share the shape's colour, matching colours solves the task, so the network "
           "learns colour instead of shape.",
           "Not the collapse gauge (nothing collapses): the factor probe reads the colour from the embedding "
           "far better than in the healthy run.", "colour"),
]

# The healthy twins at the same budget (only the broken setting restored), shipped beside the variants
# so that the gallery compares like with like; SimCLR's is the temperature run at its recipe's 0.2.
TWINS: list[dict] = []
TEMPERATURES: list[dict] = [
    {"name": f"simclr-shapes-t{t:g}", "temperature": t, "title": f"SimCLR on shapes at temperature {t:g}",
     "config": dict(_BASE, method="simclr", dataset="shapes", method_params={"temperature": t},
                    name=f"SimCLR on shapes, temperature {t:g}")}
    for t in (0.05, 0.2, 1.0)
]


def _twins() -> None:
    for v in VARIANTS:
        if v["same_budget_twin"] in {t["name"] for t in TWINS + TEMPERATURES}:
            continue
        cfg = {**v["config"], "method_params": {**v["config"].get("method_params", {}), **v["healthy"]["method_params"]},
               "name": f"{v['title'].split(' ')[0]} on shapes, healthy twin ({LIVE_BUDGET:.0f} s)"}
        TWINS.append({"name": v["same_budget_twin"], "title": cfg["name"], "config": cfg})


_twins()


def variant(name: str) -> dict:
    """One catalogue entry (a copy), by name; ConfigError naming the known ones otherwise."""
    for v in VARIANTS + TWINS + TEMPERATURES:
        if v["name"] == name:
            return copy.deepcopy(v)
    from sslviz.core.errors import ConfigError

    known = ", ".join(v["name"] for v in VARIANTS + TWINS + TEMPERATURES)
    raise ConfigError(f"variant: unknown '{name}'; known: {known}")


def run_config(name: str, **over):
    """The variant's RunConfig (validated), with any field overridden (owner, time_budget, ...)."""
    from sslviz.training.config import RunConfig

    return RunConfig.from_dict({**variant(name)["config"], **over})


def twin_config(name: str, **over):
    """The same run with the broken setting mended (the healthy twin at the variant's budget)."""
    v = variant(name)
    cfg = {**v["config"], **over}
    if "method_params" in v["healthy"]:
        cfg["method_params"] = {**cfg.get("method_params", {}), **v["healthy"]["method_params"]}
    if v["broken"].get("pipeline"):
        cfg["pipeline"] = None  # the recipe's
    cfg["name"] = f"{v['title']}: healthy twin"
    from sslviz.training.config import RunConfig

    return RunConfig.from_dict(cfg)


KNN_MARGIN = 0.05  # "far below": the variant's kNN under the twin's by more than this
COLOUR_MARGIN = 0.1  # the factor probe's colour R² above the twin's by more than this
AGREEMENT_MARGIN = 0.05  # the branches' cosine above the twin's by more than this


def readings(summary: dict, rows: list) -> dict:
    """A run's summary with "agreement": the last "cosine" its method reported (SimSiam, BYOL: how
    well the two branches agree), from its metric rows (dicts as RunStore.metrics returns, or tuples)."""
    out = dict(summary)
    for r in rows:
        name, value = (r["name"], r["value"]) if isinstance(r, dict) else (r[3], r[4])
        if name == "cosine" and value is not None:
            out["agreement"] = value
    return out


def tells_apart(name: str, broken: dict, healthy: dict) -> tuple[bool, str]:
    """Does the measure the variant's entry names tell the broken run from the healthy one? (yes/no,
    one sentence with the readings). broken, healthy: run summaries (the collapse gauge with its
    untrained start, kNN), with "agreement" (`readings`) for the "agreement" measure and "colour"
    (the factor probe's colour R²) for the "colour" measure."""
    from sslviz.evaluation.collapse_gauge import collapse_warnings

    measure = variant(name)["measure"]
    if measure == "collapse":
        wb, wh = collapse_warnings(broken), collapse_warnings(healthy)
        ok = bool(wb) and not wh
        return ok, (f"the gauge warns for the broken run ({'; '.join(wb) or 'no warning'}) and "
                    f"{'not ' if not wh else ''}for the healthy one{(' (' + '; '.join(wh) + ')') if wh else ''}")
    key, margin, word = {"knn": ("knn_accuracy", -KNN_MARGIN, "kNN"),
                         "agreement": ("agreement", AGREEMENT_MARGIN, "agreement of the two branches (cosine)"),
                         "colour": ("colour", COLOUR_MARGIN, "colour read by the factor probe (R²)")}[measure]
    b, h = broken.get(key), healthy.get(key)
    if b is None or h is None:
        return False, f"{word}: not measured"
    ok = b > h + margin if margin > 0 else b < h + margin
    return ok, f"{word} {b:.3f} for the broken run against {h:.3f} for the healthy one"
