"""A benchmark of this checkout against an earlier revision, in one run.

Runs a benchmark script of `benchmarks/` that writes `--json` (its own
same-run ratios against a baseline, e.g. GradientMonitor's overhead over
plain `fit`) alternately on the package of a base revision (checked out in a
temporary git worktree) and on this checkout's, several times, so that both
see the same machine load; the script itself is this checkout's, so only the
package differs. Prints, per configuration, the median overhead of each
revision over all runs and rounds. Run from the repository root:

    python benchmarks/revisions.py --base 9e2d564 --runs 3 -- \\
        benchmarks/gradient_monitor.py --models mlp --freqs 1 100
    python benchmarks/revisions.py --base 9e2d564 --json out.json -- ...
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_once(package_root: pathlib.Path, script_args: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        output = pathlib.Path(folder) / "result.json"
        environment = dict(os.environ, PYTHONPATH=str(package_root))
        subprocess.run(
            [sys.executable, *script_args, "--json", str(output)],
            cwd=ROOT,
            env=environment,
            check=True,
        )
        return json.loads(output.read_text())["results"]


def package_of(package_root: pathlib.Path) -> str:
    """Where a benchmark script run with this PYTHONPATH imports keras_acts
    from (its first path entry is its own folder, benchmarks/)."""
    environment = dict(os.environ, PYTHONPATH=str(package_root))
    return subprocess.run(
        [sys.executable, "-c", "import keras_acts.diagnosis as d; print(d.__file__)"],
        cwd=ROOT / "benchmarks",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare")
    parser.add_argument("--runs", type=int, default=3, help="runs of each revision")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("script", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    script = [a for a in args.script if a != "--"]
    with tempfile.TemporaryDirectory() as folder:
        base_root = pathlib.Path(folder) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_root), args.base],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            roots = {"base": base_root, "this": ROOT}
            for name, root in roots.items():
                where = package_of(root)
                if not where.startswith(str(root)):
                    raise SystemExit(f"{name}: keras_acts imported from {where}")
            overheads: dict[tuple, dict[str, list[float]]] = {}
            for run in range(args.runs):
                # Alternate the order, so that neither always runs first.
                order = ["base", "this"] if run % 2 == 0 else ["this", "base"]
                for name in order:
                    for row in run_once(roots[name], script):
                        key = (row["model"], row["configuration"], row["freq"])
                        overheads.setdefault(key, {"base": [], "this": []})
                        overheads[key][name].extend(row["overheads"])
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_root)],
                cwd=ROOT,
                check=True,
            )
    results = []
    print(f"{'configuration':<32} {'base':>8} {'this':>8}  (median overhead)")
    for (model, configuration, freq), values in overheads.items():
        base = statistics.median(values["base"])
        this = statistics.median(values["this"])
        label = f"{model} {configuration}" + (f" freq={freq}" if freq else "")
        print(f"{label:<32} {base:>+8.1%} {this:>+8.1%}")
        results.append(
            {
                "model": model,
                "configuration": configuration,
                "freq": freq,
                "base_overhead_median": base,
                "this_overhead_median": this,
                "base_overheads": values["base"],
                "this_overheads": values["this"],
            }
        )
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                {"base": args.base, "script": script, "results": results}, indent=1
            )
        )


if __name__ == "__main__":
    main()
