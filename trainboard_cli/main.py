"""``trainboard submit | sweep | fork | list | show | cancel | watch | logs`` against any deployment."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

from shared import lifecycle, metrics, run_record, search_space, spec, sweeps
from shared.metrics import BEST_ACCURACY, best_accuracy
from trainboard_cli.client import ApiError, Client
from trainboard_cli.progress import ProgressLine

_FLAG_TYPES = {"int": int, "number": float, "choice": str, "text": str, "url": str}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trainboard", description=__doc__)
    p.add_argument(
        "--url",
        default=os.environ.get("TRAINBOARD_URL", "http://127.0.0.1:8000"),
        help="Trainboard web tier (env TRAINBOARD_URL)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("TRAINBOARD_TOKEN"),
        help="API token when the server sets API_TOKEN (env TRAINBOARD_TOKEN)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="submit a run and print its id")
    _add_flags(s, spec.FIELDS)  # the flags come from the spec's one definition
    s.add_argument("--watch", action="store_true", help="then follow it until it ends")
    fk = sub.add_parser(
        "fork",
        help="a new run from one epoch of another (continue: more --epochs)",
        description="Starts from the run's state after --from-epoch (default: its last "
        "finished epoch); any spec flag given overrides the parent's value.",
    )
    fk.add_argument("run_id")
    fk.add_argument("--from-epoch", dest="from_epoch", type=int, help="the epoch to start from")
    _add_flags(fk, spec.FIELDS)
    fk.add_argument("--watch", action="store_true", help="then follow it until it ends")
    sw = sub.add_parser(
        "sweep",
        help="start a sweep: a grid of comma-separated values, or a search (--method) over ranges",
        description="Without --method, each field given several comma-separated values is swept "
        "(every combination is one run); one value applies to all runs. With --method "
        "(grid, random, tpe, pbt) each field given choices (a,b,c) or a range (LO..HI, "
        "'LO..HI log', 'LO..HI step S') is searched, its runs proposed as results come back.",
    )
    for field in spec.FIELDS:
        if field.name in sweeps.SWEEPABLE:
            sw.add_argument(field.flag, dest=field.name, metavar="V[,V…]|LO..HI", help=_flag_help(field))
    _add_flags(sw, sweeps.SWEEP_FIELDS)  # the sweep's own fields, from their one definition
    # A search's own fields (shared.search_space); its seed is --search-seed (--seed is the runs').
    for field in (*search_space.SEARCH_FIELDS, *search_space.PRUNER_FIELDS):
        flag = {"seed": "--search-seed", "type": "--pruner"}.get(field.name, field.flag)
        sw.add_argument(
            flag,
            dest=f"search_{field.name}",
            type=_FLAG_TYPES[field.kind],
            choices=field.choices or None,
            help=_flag_help(field),
        )
    sw.add_argument("--watch", action="store_true", help="follow it until every run has ended")
    ls = sub.add_parser("list", help="list runs, newest first")
    ls.add_argument("--status", choices=lifecycle.ALL, help="only runs with this status")
    ls.add_argument("--search", metavar="TEXT", help="only runs whose name contains TEXT")
    ls.add_argument("--limit", type=int, default=100, help="how many (default 100)")
    ls.add_argument("--all", action="store_true", help="every matching run, page after page")
    for name, text in (
        ("show", "print a run record as JSON"),
        ("cancel", "cancel a run"),
        ("watch", "follow a run live with a progress bar"),
    ):
        sub.add_parser(name, help=text).add_argument("run_id")
    logs = sub.add_parser("logs", help="per-epoch metrics of a run")
    logs.add_argument("run_id")
    logs.add_argument("--csv", action="store_true", help="CSV instead of a table")
    return p


def _add_flags(p: argparse.ArgumentParser, fields: tuple[spec.Field, ...]) -> None:
    """One flag per field (``--batch-size``), typed, choices and help from the field."""
    for field in fields:
        p.add_argument(
            field.flag, dest=field.name, type=_FLAG_TYPES[field.kind], choices=field.choices or None, help=_flag_help(field)
        )


def _flag_help(field: spec.Field) -> str:
    bounds = "" if field.low is None else f"; {field.describe()[len('must be ') :]}"
    default = "" if field.default is None else f" (default {field.default})"
    return f"{field.help}{bounds}{default}"


def cmd_submit(client: Client, args: argparse.Namespace) -> int:
    given = {field.name: getattr(args, field.name) for field in spec.FIELDS}
    run = client.submit({k: v for k, v in given.items() if v is not None})
    print(run["id"])
    return cmd_watch(client, run["id"]) if args.watch else 0


def cmd_fork(client: Client, args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in ("from_epoch", *(f.name for f in spec.FIELDS))}
    run = client.fork(args.run_id, {k: v for k, v in given.items() if v is not None})
    print(run["id"])
    return cmd_watch(client, run["id"]) if args.watch else 0


def _parse_values(field: spec.Field, text: str) -> list[object]:
    kind = _FLAG_TYPES[field.kind]
    try:
        return [kind(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(
            f"{field.flag}: {text!r} is not a comma-separated list of {'integers' if kind is int else 'numbers'}"
        ) from None


def _search_body(args: argparse.Namespace) -> dict[str, object]:
    """A search body (--method given): ranges or choices per field, the search's fields."""
    base, space = {}, {}
    for field in spec.FIELDS:
        text = getattr(args, field.name, None) if field.name in sweeps.SWEEPABLE else None
        if text is None:
            continue
        try:
            entry = search_space.parse_text(field.kind, text)
        except ValueError as exc:
            raise SystemExit(f"{field.flag}: {exc}") from None
        if isinstance(entry, list) and len(entry) == 1:
            base[field.name] = entry[0]
        else:
            space[field.name] = entry
    if not space:
        raise SystemExit("give at least one field a range or several choices, e.g. --lr '1e-4..3e-2 log'")
    body: dict[str, object] = {"base": base, "space": space}
    body.update({f.name: getattr(args, f.name) for f in sweeps.SWEEP_FIELDS if getattr(args, f.name) is not None})
    body.update({f.name: v for f in search_space.SEARCH_FIELDS if (v := getattr(args, f"search_{f.name}")) is not None})
    pruner = {f.name: v for f in search_space.PRUNER_FIELDS if (v := getattr(args, f"search_{f.name}")) is not None}
    if pruner:
        body["pruner"] = pruner
    return body


def cmd_sweep(client: Client, args: argparse.Namespace) -> int:
    if args.search_method is not None:
        return _follow_sweep(client, args, client.create_sweep(_search_body(args)))
    base, grid = {}, {}
    for field in spec.FIELDS:
        text = getattr(args, field.name, None) if field.name in sweeps.SWEEPABLE else None
        if text is None:
            continue
        values = _parse_values(field, text)
        if len(values) == 1:
            base[field.name] = values[0]
        else:
            grid[field.name] = values
    if not grid:
        raise SystemExit("give at least one field several comma-separated values, e.g. --lr 0.001,0.003")
    body = {
        "base": base,
        "grid": grid,
        **{f.name: getattr(args, f.name) for f in sweeps.SWEEP_FIELDS if getattr(args, f.name) is not None},
    }
    return _follow_sweep(client, args, client.create_sweep(body))


def _follow_sweep(client: Client, args: argparse.Namespace, sweep: dict) -> int:
    what = f"a {sweep['method']} search of {sweep['count']} runs" if sweep.get("method") else f"{sweep['count']} runs"
    print(f"sweep {sweep['id']}: {what} over {', '.join(sweep['swept'])}")
    if not args.watch:
        return 0
    last = None
    while True:
        state = client.sweep(sweep["id"])
        counts = ", ".join(f"{n} {s}" for s, n in sorted(state["counts"].items()))
        best = state.get(BEST_ACCURACY)
        line = counts + (f" · best {best:.2%}" if best is not None else "")
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        if state["finished"]:
            break
        time.sleep(2)
    columns = tuple(c for c in run_record.LIST_COLUMNS if c.title != "EPOCH")
    ranked = sorted(state["runs"], key=lambda r: -(best_accuracy(r) or -1))
    header, *lines = run_record.list_lines(ranked, columns)
    print(header)
    for run, line in zip(ranked, lines, strict=True):
        print(line + (" ★" if run["id"] == state["best_run_id"] else ""))
    return 0 if state["counts"].get(lifecycle.Status.SUCCEEDED.value, 0) == len(state["runs"]) else 1


def cmd_list(client: Client, args: argparse.Namespace) -> int:
    rows = client.runs(args.status, args.search, min(args.limit, 500), every=args.all)
    print("\n".join(run_record.list_lines(rows)))
    return 0


def cmd_watch(client: Client, run_id: str) -> int:
    run = client.run(run_id)
    line = ProgressLine(run["spec"]["epochs"], sys.stderr, run["spec"]["batch_size"])
    client.follow(run_id, line.update, on_reconnect=line.reconnected)
    final = client.run(run_id)
    line.finish(final)
    return 0 if final["status"] == lifecycle.Status.SUCCEEDED else 1


def cmd_logs(client: Client, args: argparse.Namespace) -> int:
    epochs = client.epochs(args.run_id)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(metrics.NAMES)
        for e in epochs:
            writer.writerow([e.get(name) for name in metrics.NAMES])
        return 0
    print("  ".join(f"{m.label.upper():>{m.width}}" for m in metrics.EPOCH_METRICS))
    for e in epochs:
        print("  ".join(f"{metrics.show(m.name, e.get(m.name)):>{m.width}}" for m in metrics.EPOCH_METRICS))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    client = Client(args.url, args.token)
    try:
        if args.command == "submit":
            return cmd_submit(client, args)
        if args.command == "fork":
            return cmd_fork(client, args)
        if args.command == "sweep":
            return cmd_sweep(client, args)
        if args.command == "list":
            return cmd_list(client, args)
        if args.command == "show":
            print(json.dumps(client.run(args.run_id), indent=2))
            return 0
        if args.command == "cancel":
            client.cancel(args.run_id)
            print(f"cancel requested for {args.run_id}")
            return 0
        if args.command == "watch":
            return cmd_watch(client, args.run_id)
        return cmd_logs(client, args)
    except ApiError as exc:
        print(f"trainboard: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"trainboard: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
