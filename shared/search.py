"""How a search chooses its trials and stops its runs: Optuna, rebuilt from the runs.

A search's state is not kept in an Optuna storage of its own. Its runs already are the
durable truth (records in Redis, ``run.json`` on the volume, restored after Redis loses
its data), so the study is rebuilt from them whenever a decision is needed: one trial per
proposal, in proposal order, with the run's objective per epoch as intermediate values
and its status as the trial's state. Nothing can then disagree with the runs: not after a
web-tier restart, not after a Redis flush, not with two web replicas (the conductor holds
a per-sweep lock). The cost is a rebuild per decision, milliseconds for the 200 trials a
search may have (``python -m benchmarks.search --rebuild`` measures it).

* proposals (web.conductor): grid points in a seeded order; Optuna's RandomSampler or
  TPESampler (multivariate, constant liar: trials in flight count as pending), seeded by
  the sweep's seed and the trial's number, so a proposal depends on the results told
  before it and on nothing else;
* pruning (worker, after each epoch): the sweep's pruner — Optuna's SuccessiveHalving
  (ASHA), Hyperband or Median pruner — asked about this run with every peer's epochs
  replayed, so the rungs' values are the ones each peer reached;
* importance (web.conductor): Optuna's default evaluator over the finished trials.
"""

from __future__ import annotations

import itertools
import logging
import random
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from shared.lifecycle import Status
from shared.search_space import OBJECTIVES, grid_values

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

#: The record field holding each objective per epoch (worker.epochs writes both).
BY_EPOCH = {"test_accuracy": "accuracy_by_epoch", "test_loss": "loss_by_epoch"}
#: Finished trials the importance evaluator needs before it says anything.
MIN_TRIALS_FOR_IMPORTANCE = 4


def objective_by_epoch(record: Mapping[str, Any] | None, objective: str) -> dict[int, float]:
    """The run's objective after each epoch it trained, from its record."""
    values = (record or {}).get(BY_EPOCH[objective]) or {}
    return {int(epoch): float(v) for epoch, v in values.items() if v is not None}


def trial_value(record: Mapping[str, Any] | None, objective: str) -> float | None:
    """The run's result for its search: its best objective over the epochs it trained."""
    values = list(objective_by_epoch(record, objective).values())
    if not values:
        return None
    return max(values) if OBJECTIVES[objective] == "maximize" else min(values)


def distributions(space: dict[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna's distribution for each field of a validated space."""
    out: dict[str, BaseDistribution] = {}
    for name, how in space.items():
        if isinstance(how, list):
            out[name] = CategoricalDistribution(how)
        elif isinstance(how["min"], int) and isinstance(how["max"], int) and not isinstance(how.get("step"), float):
            out[name] = IntDistribution(how["min"], how["max"], log=how["log"], step=how["step"] or 1)
        else:
            out[name] = FloatDistribution(float(how["min"]), float(how["max"]), log=how["log"], step=how["step"])
    return out


def pruner_for(sweep: dict[str, Any]) -> optuna.pruners.BasePruner:
    """The sweep's pruner as Optuna's: asha, hyperband, median or none."""
    spec = sweep.get("pruner") or {"type": "none"}
    kind = spec["type"]
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec["min_epochs"], reduction_factor=spec["eta"])
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=spec["min_epochs"], max_resource=max_epochs(sweep), reduction_factor=spec["eta"]
        )
    if kind == "median":
        # Two finished peers before anything stops (as the classic rule), from min_epochs on.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=spec["min_epochs"] - 1)
    return optuna.pruners.NopPruner()


def max_epochs(sweep: dict[str, Any]) -> int:
    how = sweep["space"].get("epochs")
    if how is not None:
        return int(max(how) if isinstance(how, list) else how["max"])
    return int(sweep["base"].get("epochs", 10))


def _sampler(sweep: dict[str, Any], number: int) -> optuna.samplers.BaseSampler:
    """The sampler for trial ``number``: seeded by the sweep and the number, so the same
    history always yields the same proposal."""
    seed = (int(sweep.get("seed") or 0) * 1_000_003 + number) % 2**32
    if sweep["method"] == "tpe":
        trials = int(sweep.get("trials") or 16)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, max(3, trials // 4)), multivariate=True, constant_liar=True
        )
    return optuna.samplers.RandomSampler(seed=seed)


def _frozen(proposal: dict[str, Any], record: Mapping[str, Any] | None, sweep: dict[str, Any]) -> FrozenTrial:
    """One proposal as a trial: its params, its run's epochs, and a state read from its
    run (in flight or not yet started: running; stopped by the pruner: pruned)."""
    dists = distributions(sweep["space"])
    params = {k: v for k, v in proposal["params"].items() if k in dists}
    values = objective_by_epoch(record, sweep["objective"])
    status = (record or {}).get("status")
    if status == Status.SUCCEEDED.value and values and record and record.get("stopped_early"):
        state, value = TrialState.PRUNED, None
    elif status == Status.SUCCEEDED.value and values:
        state, value = TrialState.COMPLETE, trial_value(record, sweep["objective"])
    elif status in (Status.FAILED.value, Status.CANCELLED.value) or (status == Status.SUCCEEDED.value and not values):
        state, value, values = TrialState.FAIL, None, {}
    else:
        state, value = TrialState.RUNNING, None
    return create_trial(
        state=state, value=value, params=params, distributions={k: dists[k] for k in params}, intermediate_values=values
    )


def _study(sweep: dict[str, Any], sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    return optuna.create_study(
        storage=optuna.storages.InMemoryStorage(),
        study_name=sweep["id"],
        direction=optuna.study.StudyDirection.MAXIMIZE
        if OBJECTIVES[sweep["objective"]] == "maximize"
        else optuna.study.StudyDirection.MINIMIZE,
        sampler=sampler,
        pruner=pruner_for(sweep),
    )


def study_of(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]], number: int | None = None) -> optuna.Study:
    """The search's study as its runs have it now (trial n = proposal n)."""
    proposals = sweep["proposals"]
    study = _study(sweep, _sampler(sweep, len(proposals) if number is None else number))
    for proposal in proposals:
        study.add_trial(_frozen(proposal, records.get(proposal["run_id"]), sweep))
    return study


def propose(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The next trial's values: its grid point, or what the sampler asks for given every
    result told so far (trials in flight included as pending)."""
    number = len(sweep["proposals"])
    if sweep["method"] == "grid":
        return grid_points(sweep)[number]
    study = study_of(sweep, records, number)
    trial = study.ask(fixed_distributions=distributions(sweep["space"]))
    return dict(trial.params)


def grid_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of a grid search, in an order shuffled by the sweep's seed (so a budget
    smaller than the grid samples it evenly rather than along its first axis)."""
    axes = [(name, grid_values(how) or []) for name, how in sweep["space"].items()]
    points = [dict(zip([n for n, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]
    random.Random(sweep.get("seed") or 0).shuffle(points)
    return points


def told(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> int:
    """How many of the search's trials have a result (complete or pruned)."""
    done = (Status.SUCCEEDED.value,)
    return sum(1 for p in sweep["proposals"] if (records.get(p["run_id"]) or {}).get("status") in done)


def prune_reason(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]], run_id: str, epoch: int) -> str | None:
    """Why the sweep's pruner stops ``run_id`` after ``epoch``, or None to go on.

    Every trial is added as running; each peer's epochs are then reported in order with
    the pruner asked at each (which is how Optuna's ASHA records the value each trial
    brought to each rung), and its final state told; last, this run's epochs up to
    ``epoch``. The answer at ``epoch`` is the decision."""
    pruner = (sweep.get("pruner") or {}).get("type", "none")
    if pruner == "none" or sweep.get("method") == "pbt":
        return None
    study = _study(sweep, optuna.samplers.RandomSampler(seed=0))
    dists = distributions(sweep["space"])
    ids: dict[str, int] = {}
    for proposal in sweep["proposals"]:
        params = {k: v for k, v in proposal["params"].items() if k in dists}
        study.add_trial(create_trial(state=TrialState.RUNNING, params=params, distributions={k: dists[k] for k in params}))
        ids[proposal["run_id"]] = study.get_trials(deepcopy=False)[-1]._trial_id
    if run_id not in ids:
        return None
    for proposal in sweep["proposals"]:
        if proposal["run_id"] != run_id:
            _replay(study, ids[proposal["run_id"]], records.get(proposal["run_id"]), sweep)
    trial = optuna.trial.Trial(study, ids[run_id])
    values = objective_by_epoch(records.get(run_id), sweep["objective"])
    pruned = False
    for step in sorted(e for e in values if e <= epoch):
        trial.report(values[step], step)
        pruned = trial.should_prune()
    if not pruned or epoch not in values:
        return None
    return _reason(sweep, epoch, values[epoch])


def _replay(study: optuna.Study, trial_id: int, record: Mapping[str, Any] | None, sweep: dict[str, Any]) -> None:
    trial = optuna.trial.Trial(study, trial_id)
    values = objective_by_epoch(record, sweep["objective"])
    for step in sorted(values):
        trial.report(values[step], step)
        trial.should_prune()
    frozen = _frozen({"params": {}}, record, sweep)
    if frozen.state is TrialState.COMPLETE:
        study.tell(trial, frozen.value)
    elif frozen.state in (TrialState.PRUNED, TrialState.FAIL):
        study.tell(trial, state=frozen.state)


def _reason(sweep: dict[str, Any], epoch: int, value: float) -> str:
    pruner, objective = sweep["pruner"], sweep["objective"]
    shown = f"{value:.2%}" if objective == "test_accuracy" else f"{value:.4f}"
    name = objective.replace("_", " ")
    if pruner["type"] == "median":
        return f"stopped early by the sweep's median rule: {name} {shown} after epoch {epoch} is worse than the median"
    return (
        f"stopped early by {pruner['type']} at the epoch-{epoch} rung: {name} {shown} is not in the top "
        f"1/{pruner['eta']} of the trials that reached it"
    )


def importance(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> dict[str, float] | None:
    """Each searched field's share of the objective's variation over the finished trials
    (Optuna's default importance evaluator), or None while too few have finished."""
    if len(sweep["space"]) < 2:
        return None
    study = study_of(sweep, records)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state is TrialState.COMPLETE]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:  # e.g. every trial had one value
        log.info("sweep %s: no importance yet (%s)", sweep["id"], exc)
        return None
    return {name: round(float(share), 4) for name, share in found.items()}
