"""Mutation testing of the core (issue 19): which small changes to the code the fast
tests fail to notice.

Runs ``mutmut`` (3.x) on one module at a time, with the test module(s) that cover it,
in a scratch copy of the repository (its own ``[mutmut]`` section, so the checkout's
files are never touched), then reads every mutant's status. Survivors listed in
``benchmarks/mutation_equivalent.txt`` (``mutant-name  reason``, one per line) are
equivalent mutants: they change no observable behaviour, and are counted apart.

    python benchmarks/mutation.py                         # every module in MODULES
    python benchmarks/mutation.py transport/_assignment   # one module
    python benchmarks/mutation.py transport/_solver --sample 300   # a random sample

Writes ``results/mutation.json`` (per module: killed, survived, not covered,
equivalent, killed share of the non-equivalent mutants, seconds) and
``results/mutation_survivors.txt`` (the survivors that are not listed as
equivalent: each is a missing test or a missing reason).
"""

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT, write_json

#: the influence terms of the metrics (issue 16) are checked in test_bootstrap.py
_BOOT = "tests/test_bootstrap.py::"
#: module (under sklearn_taskrel/) -> the fast test modules (or test nodes) that cover it
MODULES = {
    "transport/_assignment": ["tests/test_transport.py"],
    "transport/_classwise": ["tests/test_transport.py"],
    "transport/_feature_map": ["tests/test_transport.py"],
    "transport/_lipschitz": ["tests/test_transport.py"],
    "transport/_losses": ["tests/test_transport.py", "tests/test_head.py"],
    "transport/_relatedness": ["tests/test_transport.py"],
    "transport/_solvers": ["tests/test_transport.py"],
    # one value-fixture case per TR setting and encoder: a mutant dies on the first
    # value it changes (the whole fixture took ~25 s for each survivor)
    "transport/_solver": ["tests/test_value_fixture.py::test_tr_values_equal_the_recorded_ones",
                          "tests/test_transport_solver.py", "tests/test_estimator.py",
                          "-k", "not width_scale_and_noise"],
    "_head": ["tests/test_head.py"],
    "_estimator": ["tests/test_estimator.py",
                   "tests/test_docs.py::test_documented_defaults_are_the_signature_defaults"
                   "[sklearn_taskrel.TaskRelatednessScorer]",
                   "-k", "not width_scale_and_noise"],
    "metrics/_logme": ["tests/test_metrics.py",
                       _BOOT + "test_logme_influence_equals_finite_differences_of_the_weighted_evidence"],
    "metrics/_leep": ["tests/test_metrics.py",
                      _BOOT + "test_leep_and_nce_influence_equal_finite_differences_of_the_weighted_score",
                      _BOOT + "test_leep_influence_keeps_a_source_class_of_little_mass"],
    "metrics/_hscore": ["tests/test_metrics.py",
                        _BOOT + "test_h_score_influence_equals_finite_differences_of_the_weighted_score",
                        _BOOT + "test_h_score_influence_is_zero_when_the_score_is_saturated",
                        _BOOT + "test_regularized_h_score_influence_equals_finite_differences",
                        _BOOT + "test_regularized_h_score_influence_when_n_equals_d",
                        _BOOT + "test_regularized_h_score_influence_with_one_feature_is_that_of_the_h_score",
                        _BOOT + "test_regularized_h_score_influence_is_zero_where_the_shrinkage_is_clipped"],
    "metrics/_sfda": ["tests/test_metrics.py"],
    "metrics/_gbc": ["tests/test_metrics.py",
                     _BOOT + "test_gbc_influence_equals_finite_differences_of_the_weighted_score"],
    "metrics/_transrate": ["tests/test_metrics.py",
                           _BOOT + "test_transrate_influence_equals_finite_differences_of_the_weighted_score"],
    "metrics/_etran": ["tests/test_metrics.py"],
    "metrics/_otce": ["tests/test_metrics.py"],
    "metrics/_probe": ["tests/test_metrics.py"],
    # scikit-learn's checks of four scorers (a source head, a reference task, a label-free
    # score, LogME) and every other test: all 13 scorers' checks cost ~3x as long
    "metrics/_estimators": ["tests/test_metrics_estimators.py", "-k",
                            "not test_sklearn_compatible_estimator or estimator[LogMEScorer "
                            "or estimator[LEEPScorer or estimator[OTNCEScorer "
                            "or estimator[ETranScorer"],
    "metrics/_common": ["tests/test_metrics.py"],
}
#: folders copied into the scratch copy (test_docs.py reads docs/_ext and examples/)
COPIED = ("sklearn_taskrel", "tests", "docs", "examples")
EQUIVALENT = Path(__file__).resolve().parent / "mutation_equivalent.txt"


def read_equivalent(path=EQUIVALENT):
    """``{mutant name: reason}`` from the list of equivalent mutants."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def run_module(module, tests, workdir, max_children, sample=None, seed=0, only=None):
    """Mutate ``module`` in ``workdir`` against ``tests``: ``({mutant: status}, number
    of mutants)``, the statuses of a seeded random ``sample`` or of the mutants named
    in ``only`` alone when given."""
    cfg = "\n".join([
        "[mutmut]", "source_paths = sklearn_taskrel/",
        f"only_mutate = sklearn_taskrel/{module}.py",
        "pytest_add_cli_args_test_selection =", *[f"    {t}" for t in tests],
        "pytest_add_cli_args =", "    -x", "    -q",
        "also_copy =", *[f"    {name}" for name in COPIED if name != "sklearn_taskrel"], ""])
    # pytest's own options stay those of the repository (markers, warnings).
    (workdir / "setup.cfg").write_text((ROOT / "setup.cfg").read_text() + "\n" + cfg)
    shutil.rmtree(workdir / "mutants", ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")  # no thread pools to inherit across fork
    mutmut = [sys.executable, "-m", "mutmut"]
    dotted = "sklearn_taskrel." + module.replace("/", ".") + "."

    def statuses():
        listing = subprocess.run(mutmut + ["results", "--all", "true"], cwd=workdir, env=env,
                                 capture_output=True, text=True).stdout
        return {m.group(1): m.group(2)
                for m in re.finditer(r"^\s*(\S+): (.+)$", listing, re.M)
                if m.group(1).startswith(dotted)}

    names = []
    if sample is not None or only is not None:
        # Generate the mutants and collect the test map (a filter that matches none
        # makes mutmut stop there), then test the sample alone.
        subprocess.run(mutmut + ["run", dotted + "no_such_mutant"], cwd=workdir, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        every = sorted(statuses())
        if only is not None:
            names = [m for m in every if m in only]
        else:
            # ranked by a hash of seed and name: a code change elsewhere in the module
            # leaves the sample of the unchanged functions as it was
            names = sorted(sorted(every, key=lambda m: hashlib.sha256(
                f"{seed}:{m}".encode()).hexdigest())[:sample])
        if not names:  # nothing of this module named: no run (not every mutant)
            return {}, len(every)
    subprocess.run(mutmut + ["run", "--max-children", str(max_children), *names],
                   cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = statuses()
    return ({m: found[m] for m in names} if names else found), len(found)


def wilson_interval(k, n, z=1.96):
    """95 % Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def summarise(statuses, equivalent):
    killed = sum(s == "killed" for s in statuses.values())
    survivors = [m for m, s in statuses.items() if s != "killed"]
    equiv = [m for m in survivors if m in equivalent]
    open_ = [m for m in survivors if m not in equivalent]
    counts = {}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    scored = killed + len(open_)
    interval = wilson_interval(killed, scored)
    # A mutant listed as equivalent that a test kills was not equivalent: say so.
    wrongly_listed = sorted(m for m, s in statuses.items() if s == "killed" and m in equivalent)
    return {"mutants": len(statuses), "status_counts": counts, "killed": killed,
            "equivalent": len(equiv), "not_killed": len(open_),
            "killed_share": killed / scored if scored else None,
            "killed_share_95ci": interval,
            "survivors": sorted(open_), "listed_equivalent_but_killed": wrongly_listed}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("modules", nargs="*", help="modules under sklearn_taskrel/ (default: all)")
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    p.add_argument("--out", default=str(RESULTS / "mutation.json"))
    p.add_argument("--sample", type=int, default=None,
                   help="test a seeded random sample of this many mutants of each module: "
                        "an estimate of its killed share, with a 95 %% interval (for "
                        "modules whose every mutant would take hours)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample")
    p.add_argument("--mutants", default=None,
                   help="a file of mutant names (one per line): test only those (a "
                        "previous sample, the survivors of a run)")
    p.add_argument("--workdir", default=None,
                   help="keep the scratch copy here (then `python -m mutmut show NAME` "
                        "in it shows a mutant's diff)")
    args = p.parse_args(argv)
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        raise SystemExit(f"unknown modules {unknown}; known: {sorted(MODULES)}")
    equivalent = read_equivalent()
    only = (None if args.mutants is None
            else set(Path(args.mutants).read_text().split()))
    out = Path(args.out)
    report = {"tool": "mutmut " + _version(), "modules": {}}
    if out.exists():  # keep the modules not rerun
        report["modules"] = json.loads(out.read_text()).get("modules", {})
    with tempfile.TemporaryDirectory(prefix="taskrel-mutation-") as tmp:
        work = Path(args.workdir or tmp)
        for name in COPIED:
            shutil.rmtree(work / name, ignore_errors=True)
            shutil.copytree(ROOT / name, work / name,
                            ignore=shutil.ignore_patterns("__pycache__", "_build"))
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        for module in modules:
            t0 = time.perf_counter()
            statuses, total = run_module(module, MODULES[module], work, args.max_children,
                                         sample=args.sample, seed=args.seed, only=only)
            if statuses and all(s == "not checked" for s in statuses.values()):
                raise SystemExit(
                    f"{module}: no mutant was tested; the tests {MODULES[module]} must "
                    "pass on the unmutated code first (python -m pytest "
                    f"{' '.join(MODULES[module])}).")
            row = summarise(statuses, equivalent)
            row.update(tests=MODULES[module], seconds=round(time.perf_counter() - t0, 1))
            if args.sample is not None or only is not None:
                row.update(mutants_in_module=total, **(
                    {"sample": args.sample, "seed": args.seed} if only is None
                    else {"mutants_file": args.mutants, "named": len(only)}))
            report["modules"][module] = row
            share = row["killed_share"]
            ci = row["killed_share_95ci"]
            subset = " (sampled)" if args.sample else " (named)" if only else ""
            print(f"{module}: {row['mutants']} mutants{subset}, "
                  f"{row['killed']} killed, {row['equivalent']} equivalent, "
                  f"{row['not_killed']} not killed "
                  f"({'n/a' if share is None else f'{100 * share:.1f} %'} killed, 95 % "
                  f"interval {ci}), {row['seconds']} s", flush=True)
    write_json(out, report)
    lines = [m for row in report["modules"].values() for m in row["survivors"]]
    (out.parent / "mutation_survivors.txt").write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} survivors not listed as equivalent -> "
          f"{out.parent / 'mutation_survivors.txt'}")


def _version():
    from importlib.metadata import version

    return version("mutmut")


if __name__ == "__main__":
    main()
