"""Searches side by side: random, grid, tpe, tpe + ASHA and pbt on one search space.

The whole path, nothing simulated: a real redis-server, the web tier (``python -m web``,
whose conductor proposes the trials) and ``--workers`` CPU workers training the real CNN on
real MNIST. One space — lr 1e-4…3e-2 (log), batch 32…256 (step 32), optimizer, schedule —
runs of at most 4 epochs on 10,000 training images, the same budget of trials for every
method (pbt: a population of the same size's half, forking every epoch), ``--seeds`` seeds
each, one sweep at a time, methods interleaved within each seed.

For each sweep it records every epoch any of its runs trained (when, which accuracy), so
the best test accuracy can be read against epochs spent and against wall time. The goal
(issue #24): tpe + ASHA reaches random search's final best with ≤ 40 % of random's epochs,
and its own best is no worse than random's.

    python -m benchmarks.search [--seeds 3] [--trials 16] [--out results/bench-search.json]
    python -m benchmarks.search --report results/bench-search.json   # table + SVG plot
    python -m benchmarks.search --smoke                               # CI: tiny, synthetic
    python -m benchmarks.search --rebuild    # one tier alone: the cost of rebuilding a study

``--rebuild`` isolates what every decision costs (shared.search rebuilds the study from run
records each time): a proposal, a pruning decision and the importance for searches of 16 to
200 trials of 4 epochs, with made-up results, no stack.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests

from tests import processes

SPACE = {
    "lr": {"min": 1e-4, "max": 3e-2, "log": True},
    "batch_size": {"min": 32, "max": 256, "step": 32},
    "optimizer": ["adam", "adamw", "sgd"],
    "schedule": ["none", "onecycle"],
}
#: A grid of 16 points spanning the same space.
GRID = {"lr": [1e-3, 1e-2], "batch_size": [64, 256], "optimizer": ["adam", "sgd"], "schedule": ["none", "onecycle"]}
METHODS = ("random", "grid", "tpe", "tpe+asha", "pbt")
#: Also runnable (--methods): ASHA with its first rung at epoch 2 (a onecycle schedule is
#: still warming up after epoch 1, so the first rung judges it early); and ASHA given about
#: random's epochs instead of its trial count (7/4 of the trials: ASHA spent ~2.2 epochs a
#: trial here), the budget ASHA's papers compare at.
EXTRA_METHODS = ("tpe+asha2", "tpe+asha28")


def body(method: str, seed: int, trials: int, base: dict[str, Any], parallelism: int) -> dict[str, Any]:
    common = {"name": f"bench {method} s{seed}", "base": {**base, "seed": seed}, "seed": seed, "parallelism": parallelism}
    if method == "grid":
        return {**common, "method": "grid", "space": GRID, "trials": min(trials, 16)}
    if method == "pbt":  # each generation's members are queued together: no parallelism
        common.pop("parallelism")
        return {**common, "method": "pbt", "space": SPACE, "population": max(2, trials // 2), "interval": 1}
    if method in ("tpe+asha", "tpe+asha2", "tpe+asha28"):  # asha2: the first rung at epoch 2
        return {
            **common,
            "method": "tpe",
            "space": SPACE,
            "trials": round(trials * 7 / 4) if method == "tpe+asha28" else trials,
            "pruner": {"type": "asha", "eta": 3, "min_epochs": 2 if method == "tpe+asha2" else 1},
        }
    return {**common, "method": method, "space": SPACE, "trials": trials}


def run_sweep(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    started = time.time()
    sweep = requests.post(url + "/api/sweeps", json=payload, timeout=30)
    sweep.raise_for_status()
    sweep_id = sweep.json()["id"]
    state = processes.wait_for(
        lambda: (s := requests.get(f"{url}/api/sweeps/{sweep_id}", timeout=30).json())["finished"] and s,
        timeout,
        f"sweep {payload['name']}",
        interval=2,
    )
    epochs = []
    for run in state["runs"]:
        events = requests.get(f"{url}/api/runs/{run['id']}/events", timeout=30).json()["events"]
        epochs += [
            {"t": e["ts"] - started, "accuracy": e["test_accuracy"], "run": run["id"], "epoch": e["epoch"]}
            for e in events
            if e["type"] == "epoch"
        ]
    epochs.sort(key=lambda e: e["t"])
    return {
        "method": payload.get("method"),
        "name": payload["name"],
        "runs": len(state["runs"]),
        "stopped_early": sum(1 for r in state["runs"] if r.get("stopped_early")),
        "forks": sum(1 for r in state["runs"] if r.get("parent_run_id")),
        "wall_s": round(time.time() - started, 1),
        "epochs": epochs,
        "best": max((e["accuracy"] for e in epochs), default=None),
        "importance": state.get("importance"),
    }


def best_after(epochs: list[dict[str, Any]]) -> list[tuple[int, float, float]]:
    """(epochs spent, seconds, best accuracy so far) after each epoch trained."""
    out, best = [], 0.0
    for i, e in enumerate(epochs, 1):
        best = max(best, e["accuracy"])
        out.append((i, e["t"], best))
    return out


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: best, epochs, wall time; and, against random of the same seed, the
    epochs and seconds each needed to reach random's final best."""
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_seed.setdefault(r["seed"], {})[r["label"]] = r
    rows: dict[str, dict[str, list[Any]]] = {}
    for _, methods in sorted(by_seed.items()):
        target = methods.get("random", {}).get("best")
        rand_epochs = len(methods.get("random", {}).get("epochs", [])) or None
        rand_wall = methods.get("random", {}).get("wall_s")
        for label, r in methods.items():
            row = rows.setdefault(label, {k: [] for k in ("best", "epochs", "wall_s", "reach_epochs", "reach_s", "share")})
            row["best"].append(r["best"])
            row["epochs"].append(len(r["epochs"]))
            row["wall_s"].append(r["wall_s"])
            reach = next(((n, t) for n, t, b in best_after(r["epochs"]) if target is not None and b >= target), None)
            row["reach_epochs"].append(reach[0] if reach else None)
            row["reach_s"].append(round(reach[1], 1) if reach else None)
            row["share"].append(round(reach[0] / rand_epochs, 3) if reach and rand_epochs else None)
            if rand_wall:
                row.setdefault("share_s", []).append(round(reach[1] / rand_wall, 3) if reach else None)
    return rows


def report(path: Path) -> None:
    data = json.loads(path.read_text())
    rows = summarize(data["results"])
    seeds = sorted({r["seed"] for r in data["results"]})
    print(f"{data['config'].rsplit('; seeds', 1)[0]}; seeds {', '.join(map(str, seeds))}\n")
    print(
        "| method | best accuracy (per seed) | epochs spent | wall s | epochs to random's best | share of random's epochs |"
    )
    print("|---|---|---|---|---|---|")
    for label in (*METHODS, *EXTRA_METHODS):
        if label not in rows:
            continue
        row = rows[label]
        shares = [s for s in row["share"] if s is not None]
        print(
            f"| {label} | {' / '.join(f'{b:.2%}' for b in row['best'])} | {' / '.join(map(str, row['epochs']))} | "
            f"{' / '.join(f'{w:.0f}' for w in row['wall_s'])} | "
            f"{' / '.join(str(x) if x else '—' for x in row['reach_epochs'])} | "
            f"{' / '.join(f'{s:.0%}' if s is not None else 'never' for s in row['share'])}"
            + (f" (median {statistics.median(shares):.0%})" if shares else "")
            + " |"
        )
    print(
        "\nWhat an early rung knows (full-length sweeps only: every run trained every epoch). rho: Spearman's "
        "rank correlation of each run's accuracy at that epoch with its final accuracy; the final best's rank "
        "at that epoch, and whether a rung that keeps the top third of all of them (eta 3) would keep it:\n"
    )
    print("| sweep | seed | runs | rho at epoch 1 | rho at epoch 2 | final best's rank at epoch 1 | at epoch 2 |")
    print("|---|---|---|---|---|---|---|")
    for row in rung_check(data["results"]):
        kept = ["kept" if rank <= row["runs"] // 3 else "stopped" for rank in row["best_rank"]]
        print(
            f"| {row['label']} | {row['seed']} | {row['runs']} | {row['rho'][0]:.2f} | {row['rho'][1]:.2f} | "
            f"{row['best_rank'][0]} ({kept[0]}) | {row['best_rank'][1]} ({kept[1]}) |"
        )
    svg = path.with_suffix(".svg")
    svg.write_text(plot(data["results"]))
    print(f"\nplot: {svg}")


def _ranks(values: list[float]) -> list[int]:
    """1 for the highest value."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for place, i in enumerate(order, 1):
        ranks[i] = place
    return ranks


def _spearman(a: list[float], b: list[float]) -> float:
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def rung_check(results: list[dict[str, Any]], rungs: tuple[int, ...] = (1, 2)) -> list[dict[str, Any]]:
    """How well a run's accuracy at an early rung predicts its final accuracy, read from the
    sweeps in which every run trained to the end (random and grid): what ASHA bets on."""
    rows = []
    for r in results:
        curves: dict[str, dict[int, float]] = {}
        for e in r["epochs"]:
            curves.setdefault(e["run"], {})[e["epoch"]] = e["accuracy"]
        last = max((max(c) for c in curves.values()), default=0)
        full = [c for c in curves.values() if len(c) == last]
        if len(full) < 4 or len(full) != len(curves) or r.get("stopped_early") or r.get("forks"):
            continue
        final = [c[last] for c in full]
        best = max(range(len(full)), key=lambda i: final[i])
        at = {k: [c[k] for c in full] for k in rungs}
        rows.append(
            {
                "label": r["label"],
                "seed": r["seed"],
                "runs": len(full),
                "rho": [round(_spearman(at[k], final), 2) for k in rungs],
                "best_rank": [_ranks(at[k])[best] for k in rungs],
            }
        )
    return rows


COLOURS = {
    "random": "#888",
    "grid": "#b58900",
    "tpe": "#268bd2",
    "tpe+asha": "#d33682",
    "tpe+asha2": "#6c71c4",
    "tpe+asha28": "#cb4b16",
    "pbt": "#2aa198",
}


def plot(results: list[dict[str, Any]]) -> str:
    """Best test accuracy so far against epochs spent, one line per sweep (an SVG). The y axis
    starts 2 points below the worst final best, where the methods differ; lower values sit
    on its floor."""
    w, h, pad = 720, 420, 56
    finals = [r["best"] for r in results if r.get("best") is not None]
    lo = max(0.0, min(finals, default=0.9) - 0.02)
    hi = min(1.0, max(finals, default=1.0) + 0.002)
    most = max((len(r["epochs"]) for r in results), default=1)

    def xy(n: float, acc: float) -> tuple[float, float]:
        acc = min(max(acc, lo), hi)
        return pad + (w - 2 * pad) * n / most, h - pad - (h - 2 * pad) * (acc - lo) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="18" text-anchor="middle">best test accuracy so far against epochs spent'
        " (each line one sweep)</text>",
        f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">'
        "epochs spent (all runs of the sweep, in finishing order)</text>",
    ]
    for k in range(6):
        acc = lo + (hi - lo) * k / 5
        _, y = xy(0, acc)
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{pad - 4}" y="{y + 4:.1f}" text-anchor="end">{acc:.1%}</text>')
    for n in range(0, most + 1, 8):
        x, _ = xy(n, lo)
        parts.append(f'<text x="{x:.1f}" y="{h - pad + 16}" text-anchor="middle">{n}</text>')
    for r in results:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(n, b) for n, _, b in best_after(r["epochs"])))
        colour = COLOURS.get(r["label"], "#000")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
    labels = [label for label in COLOURS if any(r["label"] == label for r in results)]
    for i, label in enumerate(labels):
        parts.append(f'<text x="{w - pad - 90}" y="{h - pad - 20 - 16 * i}" fill="{COLOURS[label]}">— {label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def rebuild_costs() -> None:
    """Milliseconds per decision against the number of trials already in the search."""
    import math
    import random

    from shared import search
    from shared.sweeps import describe_search

    rng = random.Random(0)
    print("| trials so far | propose (tpe) | prune (asha) | importance |")
    print("|---|---|---|---|")
    for n in (16, 50, 100, 200):
        sweep = {
            **describe_search(
                {"method": "tpe", "base": {"epochs": 4}, "space": SPACE, "trials": 200, "pruner": {"type": "asha"}}
            ),
            "id": "f" * 32,
        }
        records: dict[str, dict[str, Any]] = {}
        for i in range(n):
            params: dict[str, Any] = {
                "lr": math.exp(rng.uniform(math.log(1e-4), math.log(3e-2))),
                "batch_size": 32 * rng.randint(1, 8),
                "optimizer": rng.choice(["adam", "adamw", "sgd"]),
                "schedule": rng.choice(["none", "onecycle"]),
            }
            run_id = f"{i:032x}"
            sweep["proposals"].append({"number": i, "run_id": run_id, "params": params})
            acc = {str(e): 0.9 + 0.02 * e * rng.random() for e in range(1, 5)}
            records[run_id] = {"id": run_id, "status": "succeeded", "accuracy_by_epoch": acc}
        timings = []
        last = f"{n - 1:032x}"
        for decide, args in (
            (search.propose, (sweep, records)),
            (search.prune_reason, (sweep, records, last, 3)),
            (search.importance, (sweep, records)),
        ):
            started = time.perf_counter()
            for _ in range(3):
                decide(*args)  # type: ignore[operator]
            timings.append((time.perf_counter() - started) / 3 * 1000)
        print(f"| {n} | {timings[0]:.0f} ms | {timings[1]:.0f} ms | {timings[2]:.0f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "../shared/datasets"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--append", action="store_true", help="add to --out's results instead of replacing them")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4, help="epochs a run plans (ASHA's rungs rank better in longer runs)")
    parser.add_argument("--train-samples", type=int, default=10000, help="training images per run (60000: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default="results/bench-search.json")
    parser.add_argument("--report", metavar="JSON", help="print the table and write the plot for a finished run")
    parser.add_argument(
        "--smoke", action="store_true", help="2 trials of 1 epoch on synthetic data: CI's check that it runs"
    )
    parser.add_argument("--rebuild", action="store_true", help="only the cost of one decision (no stack)")
    args = parser.parse_args()
    if args.rebuild:
        return rebuild_costs()
    if args.report:
        return report(Path(args.report))
    base = {"epochs": args.epochs, "train_samples": args.train_samples}
    if args.smoke:
        from tests.synthetic_mnist import make_dataset

        args.data_dir = str(make_dataset(Path(tempfile.mkdtemp()), train=400, test=200))
        args.seeds, args.trials, base = 1, 4, {"epochs": 2, "train_samples": 200}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = (
        f"{args.workers} CPU workers (1 thread each), {os.cpu_count()} cores; runs of {base['epochs']} epochs on "
        f"{base['train_samples']:,} images; {args.trials} trials (pbt: population {max(2, args.trials // 2)}); "
        f"seeds {args.first_seed}-{args.first_seed + args.seeds - 1}"
    )
    data: dict[str, Any] = {"config": config, "base": base, "trials": args.trials, "results": []}
    if args.append and out.exists():
        earlier = json.loads(out.read_text())
        if (earlier.get("base", base), earlier.get("trials", args.trials)) != (base, args.trials):
            raise SystemExit(f"--append: {out} holds sweeps of another budget ({earlier['config']})")
        data["results"] = earlier["results"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis_proc, url = processes.start_redis(root / "redis", persist=False)
        env = processes.stack_env(url, root / "results", Path(args.data_dir), SUBMIT_RATE_PER_MINUTE="1000")
        workers = [processes.start_worker(f"b{i}", env, root) for i in range(args.workers)]
        web, web_url = processes.start_web(env, root)
        try:
            for i in range(args.workers):
                processes.wait_worker_ready(redis.Redis.from_url(url), f"b{i}", timeout=120)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for label in args.methods.split(","):
                    payload = body(label, seed, args.trials, base, args.workers)
                    result = run_sweep(web_url, payload, timeout=4 * 3600)
                    result.update(label=label, seed=seed)
                    data["results"].append(result)
                    out.write_text(json.dumps(data, indent=1))
                    print(
                        f"{label} seed {seed}: best {result['best']:.2%}, {len(result['epochs'])} epochs, "
                        f"{result['wall_s']:.0f} s, {result['stopped_early']} stopped, {result['forks']} forks",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for p in (web, *workers, redis_proc):
                p.stop()
    report(out)


if __name__ == "__main__":
    main()
