"""Searches without a stack: the body's validation, decisions rebuilt from run records
equal a live Optuna study's, proposals follow results, PBT's exploit and explore."""

from __future__ import annotations

import math
import random
import statistics

import optuna
import pytest

from shared import pbt, search, search_space
from shared.search_space import MAX_TRIALS
from shared.spec import SpecError
from shared.sweeps import describe_search, expand
from trainboard_cli import main as cli

SPACE = {
    "lr": {"min": 1e-4, "max": 3e-2, "log": True},
    "batch_size": {"min": 32, "max": 256, "step": 32},
    "optimizer": ["adam", "adamw", "sgd"],
}


def _search(**body) -> dict:
    sweep = describe_search({"method": "tpe", "base": {"epochs": 4}, "space": SPACE, **body})
    return {**sweep, "id": "a" * 32}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"space": {"lr": {"min": 0.1, "max": 0.01}}}, "space.lr"),
        ({"space": {"lr": {"min": 0.1, "max": 0.1}}}, "space.lr"),
        ({"space": {"lr": {"min": 0, "max": 0.1, "log": True}}}, "space.lr"),
        ({"space": {"lr": {"min": 0.001, "max": 0.1, "log": True, "step": 0.01}}}, "space.lr"),
        ({"space": {"momentum": [0.9]}}, "space.momentum"),
        ({"space": {"dataset": ["mnist"]}}, "space.dataset"),
        ({"space": {}}, "space"),
        ({"space": {"lr": []}}, "space.lr"),
        ({"space": {"optimizer": ["adam", "adam"]}}, "space.optimizer"),
        ({"space": {"optimizer": {"min": 1, "max": 2}}}, "space.optimizer"),
        ({"space": {"batch_size": {"min": 32, "max": 100, "step": 32}}}, "space.batch_size"),
        ({"space": {"batch_size": {"min": 32.5, "max": 100}}}, "space.batch_size"),
        ({"method": "grid", "space": {"lr": {"min": 0.001, "max": 0.1}}}, "space.lr"),
        ({"method": "grid", "space": {"lr": [0.1, 0.2]}, "trials": 3}, "trials"),
        ({"method": "annealing", "space": {"lr": [0.1]}}, "method"),
        ({"space": {"lr": [0.1]}, "pruner": {"type": "asha", "eta": 1}}, "pruner.eta"),
        ({"space": {"lr": [0.1]}, "pruner": {"type": "bohb"}}, "pruner.type"),
        ({"space": {"lr": [0.1]}, "pruner": {"type": "asha", "min_epochs": 4}}, "pruner.min_epochs"),
        ({"space": {"lr": [0.1]}, "trials": 0}, "trials"),
        ({"space": {"lr": [0.1]}, "trials": MAX_TRIALS + 1}, "trials"),
        ({"space": {"lr": [0.1]}, "parallelism": 0}, "parallelism"),
        ({"space": {"lr": [0.1]}, "objective": "train_loss"}, "objective"),
        ({"space": {"lr": [0.1]}, "grid": {"lr": [0.1]}}, "grid"),
        ({"method": "pbt", "space": {"train_samples": [200, 300]}}, "space.train_samples"),
        ({"method": "pbt", "space": {"lr": [0.1]}, "interval": 4}, "interval"),
        ({"method": "pbt", "space": {"lr": [0.1]}, "trials": 4}, "trials"),
        ({"method": "pbt", "space": {"lr": [0.1]}, "parallelism": 2}, "parallelism"),
        ({"space": {"train_samples": {"min": 10, "max": 300}}}, "space.train_samples"),
        ({"space": {"lr": [0.1]}, "base": {"epochs": 0}}, "base.epochs"),
        # Found by an attacker's review: each was a 500 or slipped through.
        ({"space": {"lr": [0.1]}, "trials": "abc"}, "trials"),
        ({"space": {"lr": [0.1]}, "trials": [5]}, "trials"),
        ({"space": {"lr": [0.1]}, "trials": {"n": 5}}, "trials"),
        ({"space": {"lr": [0.1]}, "trials": float("inf")}, "trials"),
        ({"space": {"lr": [0.1]}, "seed": "x"}, "seed"),
        ({"space": {"lr": [0.1]}, "parallelism": "many"}, "parallelism"),
        ({"method": "pbt", "space": {"lr": [0.1]}, "population": "x"}, "population"),
        ({"method": "pbt", "space": {"lr": [0.1]}, "interval": [1]}, "interval"),
        ({"space": {"lr": {"min": None, "max": 1}}}, "space.lr"),
        ({"space": {"train_samples": [None, 200]}}, "space.train_samples"),
        ({"space": {"lr": {"min": 0.001, "max": 0.01, "step": float("inf")}}}, "space.lr"),
        ({"space": {"epochs": {"min": 1, "max": 3, "step": 10**12}}}, "space.epochs"),
        ({"method": "grid", "space": {"batch_size": [50, 50.0]}}, "space.batch_size"),
    ],
)
def test_a_bad_search_names_the_field(body, field):
    with pytest.raises(SpecError) as caught:
        expand({"base": {"epochs": 4}, **body})
    assert field in caught.value.fields, caught.value.fields


def test_a_good_search_is_described_with_its_defaults_and_no_runs():
    sweep, specs = expand({"method": "tpe", "base": {"epochs": 4}, "space": SPACE})
    assert specs == [] and sweep["proposals"] == [] and sweep["run_ids"] if "run_ids" in sweep else True
    assert sweep["trials"] == 16 and sweep["parallelism"] is None and sweep["objective"] == "test_accuracy"
    assert sweep["pruner"] == {"type": "none", "eta": 3, "min_epochs": 1}
    grid, _ = expand({"method": "grid", "space": {"lr": [0.1, 0.01], "batch_size": {"min": 32, "max": 96, "step": 32}}})
    assert grid["trials"] == 6 and len(search.grid_points({**grid, "id": "b" * 32})) == 6
    bare, _ = expand({"space": {"lr": [0.1]}, "pruner": "asha"})
    assert bare["method"] == "tpe" and bare["pruner"]["type"] == "asha"


def _distance(lr: float) -> float:
    """How far an lr is from the best one (10^-2.5) of the made-up objective below."""
    return abs(math.log10(lr) + 2.5)


def _search_on_made_up_results(method: str, trials: int = 30, seed: int = 1) -> tuple[dict, dict]:
    sweep = _search(trials=40, seed=seed, method=method)
    records: dict[str, dict] = {}
    for n in range(trials):
        params = search.propose(sweep, records)
        assert 1e-4 <= params["lr"] <= 3e-2 and params["batch_size"] % 32 == 0 and params["optimizer"] in SPACE["optimizer"]
        run_id = f"{n:032x}"
        sweep["proposals"].append({"number": n, "run_id": run_id, "params": params})
        records[run_id] = {"id": run_id, "status": "succeeded", "accuracy_by_epoch": {"1": 1 - _distance(params["lr"]) / 3}}
    return sweep, records


def test_proposals_stay_in_the_space_and_follow_the_results():
    """Over three seeds, TPE's last ten proposals sit nearer the best lr than random
    search's last ten: they follow the results."""
    for seed in (1, 2, 3):
        tpe, records = _search_on_made_up_results("tpe", seed=seed)
        rand, _ = _search_on_made_up_results("random", seed=seed)
        late = lambda s: statistics.mean(_distance(p["params"]["lr"]) for p in s["proposals"][20:])  # noqa: E731
        assert late(tpe) < late(rand), seed
    # The same history proposes the same trial; in-flight trials are pending, not repeated.
    assert search.propose(tpe, records) == search.propose(tpe, records)
    nxt = {"number": 30, "run_id": "f" * 32, "params": search.propose(tpe, records)}
    assert search.propose({**tpe, "proposals": [*tpe["proposals"], nxt]}, records) != nxt["params"]


@pytest.mark.parametrize("pruner", ["asha", "hyperband", "median"])
def test_pruning_decisions_rebuilt_from_records_equal_a_live_studys(pruner):
    """The worker rebuilds the study from run records at each epoch; a live Optuna study
    asked along the way must decide exactly the same for every trial and epoch."""
    sweep = _search(
        trials=20,
        base={"epochs": 9},
        space={"lr": {"min": 1e-4, "max": 0.1, "log": True}},
        pruner={"type": pruner, "eta": 3, "min_epochs": 1},
    )
    live = optuna.create_study(study_name=sweep["id"], direction="maximize", pruner=search.pruner_for(sweep))
    records: dict[str, dict] = {}
    rng = random.Random(7)
    stopped = 0
    for n in range(20):
        trial = live.ask()
        lr = trial.suggest_float("lr", 1e-4, 0.1, log=True)
        run_id = f"{n:032x}"
        sweep["proposals"].append({"number": n, "run_id": run_id, "params": {"lr": lr}})
        record = records[run_id] = {"id": run_id, "status": "running", "accuracy_by_epoch": {}}
        quality = rng.random()
        for epoch in range(1, 10):
            value = quality * (1 - 0.5**epoch)
            record["accuracy_by_epoch"][str(epoch)] = value
            trial.report(value, epoch)
            live_says = trial.should_prune()
            assert (search.prune_reason(sweep, records, run_id, epoch) is not None) == live_says, (n, epoch)
            if live_says:
                live.tell(trial, state=optuna.trial.TrialState.PRUNED)
                record.update(status="succeeded", stopped_early=True)
                stopped += 1
                break
        else:
            live.tell(trial, max(record["accuracy_by_epoch"].values()))
            record["status"] = "succeeded"
    assert stopped >= 5


def test_importance_names_the_field_that_matters():
    sweep = _search(trials=40, seed=2)
    records: dict[str, dict] = {}
    for n in range(24):
        params = search.propose({**sweep, "method": "random"}, records)
        run_id = f"{n:032x}"
        sweep["proposals"].append({"number": n, "run_id": run_id, "params": params})
        records[run_id] = {"id": run_id, "status": "succeeded", "accuracy_by_epoch": {"1": 1 - _distance(params["lr"]) / 3}}
    shares = search.importance(sweep, records)
    assert shares is not None and max(shares, key=shares.get) == "lr"


def test_pbt_ranks_a_whole_generation_then_forks_the_bottom_quarter_from_the_top():
    sweep = {
        **describe_search({"method": "pbt", "base": {"epochs": 4}, "space": SPACE, "population": 8, "interval": 2}),
        "id": "c" * 32,
    }
    members = pbt.initial_population(sweep)
    assert len(members) == 8 and members == pbt.initial_population(sweep)
    assert [pbt.generation_ends(sweep, e) for e in (1, 2, 3, 4)] == [False, True, False, False]
    records = {}
    for m, params in enumerate(members):
        run_id = f"{m:032x}"
        sweep["proposals"].append({"number": m, "run_id": run_id, "params": params, "member": m, "generation": 0})
        records[run_id] = {"id": run_id, "status": "running", "accuracy_by_epoch": {"1": 0.1, "2": m / 10}}
    assert pbt.next_generation(sweep, records) == []  # nobody is judged before all have ended
    for record in records.values():
        record["status"] = "succeeded"
    nxt = pbt.next_generation(sweep, records)
    assert [p["member"] for p in nxt] == list(range(8)) and {p["generation"] for p in nxt} == {1}
    assert {p["from_epoch"] for p in nxt} == {2}
    ids = [p["run_id"] for p in sweep["proposals"]]
    exploited = [p for p in nxt if p["exploit"]]
    assert [p["member"] for p in exploited] == [0, 1]  # the bottom quarter
    for p in exploited:
        assert p["parent_run_id"] in ids[6:]  # forks from the top quarter, perturbed
        parent = members[ids.index(p["parent_run_id"])]
        assert 1e-4 <= p["params"]["lr"] <= 3e-2 and p["params"]["lr"] != parent["lr"]
        assert p["params"]["batch_size"] % 32 == 0 and 32 <= p["params"]["batch_size"] <= 256
    for p in nxt:
        if not p["exploit"]:  # everyone else goes on from its own state, settings unchanged
            assert p["parent_run_id"] == ids[p["member"]] and p["params"] == members[p["member"]]
    # After the last generation there is no next one.
    for i, p in enumerate(nxt):
        run_id = f"{100 + i:032x}"
        sweep["proposals"].append({**p, "number": 8 + i, "run_id": run_id})
        records[run_id] = {"id": run_id, "status": "succeeded", "accuracy_by_epoch": {"3": 0.5, "4": 0.6}}
    assert pbt.next_generation(sweep, records) == []


def test_the_text_grammar_of_the_form_and_the_cli():
    assert search_space.parse_text("number", "1e-4..3e-2 log") == {"min": 1e-4, "max": 3e-2, "log": True}
    assert search_space.parse_text("int", "32..256 step 32") == {"min": 32, "max": 256, "step": 32}
    assert search_space.parse_text("int", "32..256") == {"min": 32, "max": 256}
    assert search_space.parse_text("choice", "adam, sgd") == ["adam", "sgd"]
    assert search_space.parse_text("number", "0.1,0.01") == [0.1, 0.01]
    with pytest.raises(ValueError):
        search_space.parse_text("number", "0.1..1 sideways")
    with pytest.raises(ValueError):
        search_space.parse_text("int", "a..b")


def test_the_cli_builds_a_search_body_from_its_flags():
    args = cli.parser().parse_args(
        [
            "sweep",
            "--method",
            "tpe",
            "--lr",
            "1e-4..3e-2 log",
            "--batch-size",
            "32..256 step 32",
            "--optimizer",
            "adam,sgd",
            "--epochs",
            "4",
            "--trials",
            "12",
            "--search-seed",
            "7",
            "--pruner",
            "asha",
            "--eta",
            "2",
        ]
    )
    body = cli._search_body(args)
    assert body == {
        "base": {"epochs": 4},
        "space": {
            "lr": {"min": 1e-4, "max": 3e-2, "log": True},
            "batch_size": {"min": 32, "max": 256, "step": 32},
            "optimizer": ["adam", "sgd"],
        },
        "method": "tpe",
        "trials": 12,
        "seed": 7,
        "pruner": {"type": "asha", "eta": 2},
    }
    expand(body)  # and the server's validator takes it


def test_a_number_range_with_whole_bounds_is_still_continuous():
    sweep = _search(method="random", space={"lr": {"min": 1, "max": 3}}, trials=10)
    values = []
    for n in range(5):
        values.append(search.propose(sweep, {})["lr"])
        sweep["proposals"].append({"number": n, "run_id": f"{n:032x}", "params": {"lr": values[-1]}})
    assert not all(float(v).is_integer() for v in values), values
    grid, _ = expand({"method": "grid", "space": {"lr": {"min": 0.001, "max": 0.003, "step": 0.001}}})
    assert search.grid_points({**grid, "id": "d" * 32}) != [] and grid["trials"] == 3


def test_a_pbt_member_without_a_score_takes_a_top_members_state():
    sweep = {
        **describe_search({"method": "pbt", "base": {"epochs": 3}, "space": SPACE, "population": 4, "interval": 1}),
        "id": "e" * 32,
    }
    records = {}
    for m, params in enumerate(pbt.initial_population(sweep)):
        run_id = f"{m:032x}"
        sweep["proposals"].append({"number": m, "run_id": run_id, "params": params, "member": m, "generation": 0})
        scored = m < 2  # members 2 and 3 were cancelled before their first epoch
        records[run_id] = {
            "id": run_id,
            "status": "succeeded" if scored else "cancelled",
            "accuracy_by_epoch": {"1": 0.5 + m / 10} if scored else {},
        }
    nxt = pbt.next_generation(sweep, records)
    assert [p["member"] for p in nxt] == [0, 1, 2, 3]  # nobody is dropped
    assert {p["member"] for p in nxt if p["exploit"]} == {2, 3}  # the bottom one, and the other without a score
    for p in nxt:
        if p["member"] in (2, 3):
            assert p["exploit"] and p["parent_run_id"] == f"{1:032x}"  # the top one
    for record in records.values():
        record.update(status="cancelled", accuracy_by_epoch={})
    assert pbt.next_generation(sweep, records) == []  # nobody reached the epoch: it ends
