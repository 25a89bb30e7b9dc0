"""How `bnrepro train` runs its jobs: check them all, then pack compatible ones to train together.

bnrepro's sweeper lives in hydra_plugins.bnrepro (bnrepro/launch/hydra_plugin/); it
holds no logic and calls these functions:

- it composes every job's config and checks it (types, ranges, device, dataset, claims
  pinned to one configuration per arm, and each claim's metric logged by the runs its
  arms select) before anything is created: a bad value fails the whole command with a
  message naming the key, and no directory is left behind;
- groups gathers jobs that share an architecture and schedule (they may differ in seed,
  learning rate and its multiplier, momentum, weight decay and its divisor, init, dropout
  rate and variant name) into packs (packs.py), which launch/schedule.py may split to fill
  the cores; form_packs names each run from the overrides that vary and writes the packs,
  one Hydra job each for whatever launcher is configured (or bnrepro's local runner,
  several at once, as schedule.py decides);
- train_pack is that job's work: one pack trained in one process with train_runs
  (resuming from its checkpoint if it left one): every run keeps its own data order,
  optimizer state, TensorBoard run, summary and table row, as if it had run alone.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from ..config import Config, ConfigError, DatasetName, arms, flatten, from_plain, to_plain, validate
from ..config.status import PENDING

from ..run.files import PLANNED_RUNS, atomic_write
from ..run.signals import held_sigint
from .packs import Pack, pack_arm, read_pack, write_pack
from .runnames import fresh_dir, run_names, swept_config_keys

CONFIG_FIELDS = tuple(Config.__dataclass_fields__)  # top-level keys (seed=1), as opposed to config groups

# Config keys that runs trained together may differ in (per-run tensors in the step).
BATCHABLE = (
    "seed",
    "variant",
    "optim.lr",
    "optim.lr_mult",
    "optim.momentum",
    "optim.weight_decay",
    "optim.weight_decay_div",
    "model.dropout",
    "model.init",
    "model.init_std",
    "model.init_gain",
    "model.weight_scale",
    "model.lstm.gamma",
)


class InvalidJob(CompactHydraException):
    """Printed by Hydra as its message only (no traceback), exit code 1."""


def typed(cfg: DictConfig) -> Config:
    ours = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    try:
        return from_plain(OmegaConf.to_container(ours, resolve=True))
    except ConfigError as e:  # model.norm.kind names no registered layer
        raise InvalidJob(f"Invalid configuration: {e}") from None


class Composer:
    """Every job's typed config, Hydra composing once per distinct set of config-group overrides.

    Hydra's load_sweep_config builds the whole defaults tree again for each job (~0.3 s on
    an idle CPU); a sweep's jobs mostly differ in plain values (seed, model.bn), which Hydra
    applies after composing, in order, with ConfigLoaderImpl._apply_overrides_to_config: done
    here the same way on a copy of the composed config. Jobs already seen (the experiment's own
    sweep beside the command line's) are not composed again."""

    def __init__(self, loader, master: DictConfig):
        self.loader, self.master = loader, master
        self.bases: dict[tuple[str, ...], dict] = {}
        self.done: dict[tuple[str, ...], Config] = {}
        self.seedless: dict[tuple, Config] = {}  # by all overrides but an integer seed=

    def _is_value(self, override) -> bool:
        from .hydra_internals import is_group

        key = override.key_or_group
        return (
            not override.is_hydra_override()
            and override.package is None
            and not override.is_sweep_override()
            and not is_group(self.loader, key)
            and ("." in key or key in CONFIG_FIELDS)
        )

    def __call__(self, job: Sequence[str]) -> Config:
        with held_sigint():  # a Ctrl-C waits for this job's config: OmegaConf must not see it (run/signals.py)
            return self._compose(job)

    def _compose(self, job: Sequence[str]) -> Config:
        from .hydra_internals import apply_value_overrides, parse_overrides

        if tuple(job) in self.done:
            return self.done[tuple(job)]
        parsed = parse_overrides(job)
        values = [o for o in parsed if self._is_value(o)]
        groups = tuple(o.input_line for o in parsed if not self._is_value(o))
        seeds = [o for o in values if o.key_or_group == "seed" and not o.is_delete() and isinstance(o.value(), int)]
        if len(seeds) == 1:  # jobs that differ only in their seed: one conversion, the seed replaced
            rest = (groups, tuple(o.input_line for o in values if o is not seeds[0]))
            # ... unless a value interpolates the seed (`${seed}`): then it is composed in full
            if rest in self.seedless and "${seed" not in repr([self.bases[groups], rest[1]]):
                config = dataclasses.replace(copy.deepcopy(self.seedless[rest]), seed=seeds[0].value())
                self.done[tuple(job)] = config
                return config
        if groups not in self.bases:
            base = self.loader.load_sweep_config(self.master, list(groups))
            self.bases[groups] = OmegaConf.to_container(OmegaConf.masked_copy(base, [k for k in base if k != "hydra"]))
        cfg = OmegaConf.create(self.bases[groups])
        OmegaConf.set_struct(cfg, True)  # as Hydra's: a key the config lacks is an error, not a new key
        apply_value_overrides(values, cfg)
        try:
            config = from_plain(OmegaConf.to_container(cfg, resolve=True))
        except Exception as e:  # a value of the wrong type or outside an enum: Hydra's compact error, no traceback
            raise InvalidJob(f"Invalid configuration (job: {' '.join(job)}): {e}") from None
        self.done[tuple(job)] = config
        if len(seeds) == 1:
            self.seedless[rest] = config
        return config


def check(configs: list[Config], job_overrides: Sequence[Sequence[str]]) -> None:
    """Everything that can be wrong with a sweep before training starts."""
    import torch

    from ..data import DataError, fetch
    from ..run.probes import PROBES

    for cfg, overrides in zip(configs, job_overrides):
        try:
            validate(cfg)
            unknown = [name for name in cfg.probes.which if name not in PROBES]
            if unknown:  # the registry lives in run/, which config/ may not import
                raise ConfigError(
                    f"probes.which={list(cfg.probes.which)} is out of range: no probe "
                    f"{', '.join(unknown)}; the registry has {', '.join(sorted(PROBES))}"
                )
            if cfg.device.value == "cuda" and not torch.cuda.is_available():
                raise ConfigError("device=cuda but no CUDA device is available (use device=auto or device=cpu)")
        except ConfigError as e:
            where = f" (job: {' '.join(overrides)})" if len(configs) > 1 else ""
            raise InvalidJob(f"Invalid configuration{where}: {e}") from None
    try:
        check_claim_metrics(configs, own_sweep=False)
    except ConfigError as e:
        raise InvalidJob(f"Invalid configuration: {e}") from None
    for name, root in {(c.data.name, c.data.root) for c in configs}:
        if name not in (DatasetName.synthetic, DatasetName.gaussian):
            try:
                fetch(name.value, root)
            except DataError as e:
                raise InvalidJob(str(e)) from None


def check_experiment_claims(configs: list[Config], declared_arms: str = "") -> None:
    """The jobs of an experiment file's own sweep: each claim's arms must be one configuration,
    select some run of the sweep, and have the claim's metric. declared_arms: the file's
    hydra.sweeper.arms, described (launch/declared_arms.py), named in the refusal."""
    if configs and configs[0].report.claims:
        try:
            arms.check_claims([flatten(to_plain(c)) for c in configs], configs[0].report.claims)
            check_claim_metrics(configs, own_sweep=True)
        except ConfigError as e:
            named = f" (the arms it declares in hydra.sweeper.arms: {declared_arms})" if declared_arms else ""
            raise InvalidJob(f"experiment {configs[0].name}: {e}{named}") from None


def check_claim_metrics(configs: list[Config], own_sweep: bool) -> None:
    """Every claim's `where` / `than` names config keys, and its metric (and `than_metric`) is
    one the runs its arms select will have; in an experiment file's own sweep (own_sweep) each
    arm must also select a run (a value no run has is a typo, not a subset of the sweep)."""
    from ..run.logged_tags import why_missing

    flats = [flatten(to_plain(c)) for c in configs]
    for claim in configs[0].report.claims if configs else []:
        for index, cond in enumerate(arms.arms(claim)):
            side = "where" if index == 0 else "than"
            selected = [c for c, flat in zip(configs, flats) if arms.matches(flat, cond)]
            if own_sweep and not selected:
                raise ConfigError(
                    f"claim {claim.text!r}: {side}={getattr(claim, side)!r} selects no run of the experiment's sweep"
                )
            metrics = (
                [claim.than_metric or claim.metric]
                if index
                else [claim.metric] + ([claim.than_metric] if claim.than_metric and not claim.than else [])
            )
            for cfg, metric in itertools.product(selected, metrics):
                reason = why_missing(cfg, metric)
                if reason:
                    raise ConfigError(
                        f"claim {claim.text!r}: metric {metric!r} cannot exist for the runs its "
                        f"{side} arm selects: {reason}"
                    )


def compatibility_key(cfg: Config) -> tuple:
    return tuple(
        sorted(
            (k, str(v)) for k, v in flatten(to_plain(cfg)).items() if k not in BATCHABLE and not k.startswith("report.")
        )
    )


def groups(configs: list[Config], batch: bool, max_runs: int, limit=lambda cfg: None) -> list[list[int]]:
    """Indices of jobs to train together, in order of first appearance; at most max_runs per
    pack, or limit(cfg) where that says fewer for the pack's network (launch/packs.py's
    cpu_pack_limit, on the CPU)."""
    if not batch:
        return [[i] for i in range(len(configs))]
    by_key: dict[tuple, list[list[int]]] = {}
    order: list[list[int]] = []
    for i, cfg in enumerate(configs):
        chunks = by_key.setdefault(compatibility_key(cfg), [])
        if not chunks or len(chunks[-1]) >= min(max_runs, limit(cfg) or max_runs):
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(i)
    return order


def command_line() -> str:
    return os.environ.get("BNREPRO_COMMAND") or " ".join(["bnrepro train", *sys.argv[1:]])


def refuse_run_dir(hydra_overrides: Sequence[str]) -> None:
    """hydra.run.dir names the directory of a single (non-sweep) run, which bnrepro train
    never makes: every train is a sweep. Refused rather than silently ignored."""
    for override in hydra_overrides:
        if override.lstrip("+~").startswith("hydra.run.dir="):
            raise InvalidJob(
                "hydra.run.dir is not used: every `bnrepro train` is a sweep. Set "
                "hydra.sweep.dir=DIR instead (runs go to DIR/<run name>/), or out_dir= and name=."
            )


def claim_sweep_dir(configured: Path) -> Path:
    """The configured sweep directory, created exclusively (DIR-2, ... when taken)."""
    return fresh_dir(configured.parent, configured.name)


def prepare_runs(
    sweep_dir: Path, names: list[str], configs: list[Config], plan: list[list[int]], command: str
) -> list[Path]:
    """Create every run directory of the sweep (exclusively) before training any, with its
    config.yaml and a summary.json saying `pending`: a sweep stopped early shows every run
    it planned, and `bnrepro resume` knows them and their groups."""
    from ..run.writers import group_names, write_config, write_summary

    run_dirs: list[Path] = [Path()] * len(configs)
    for group in plan:
        dirs = [fresh_dir(sweep_dir, names[i]) for i in group]
        for i, run_dir in zip(group, dirs):
            run_dirs[i] = run_dir
            plain = to_plain(configs[i])
            write_config(run_dir, plain)
            write_summary(
                run_dir,
                {
                    "name": configs[i].name,
                    "run": run_dir.name,
                    "status": PENDING,
                    "group": group_names(dirs),
                    "command": command,
                    "config": plain,
                },
            )
    return run_dirs


def sweep_dir_override(sweep_dir: Path) -> str:
    """hydra.sweep.dir=<the claimed directory>, quoted for Hydra's override grammar."""
    quoted = str(sweep_dir.resolve()).replace("\\", "\\\\").replace("'", "\\'")
    return f"hydra.sweep.dir='{quoted}'"


def form_packs(
    configs: list[Config],
    job_overrides: Sequence[Sequence[str]],
    sweep_dir: Path,
    plan: list[list[int]],
    axes: tuple[str, ...] = (),
) -> list[Pack]:
    """Name every run (axes: the keys the experiment file sweeps, kept in run names), create
    their directories with pending summaries, grouped into packs as `plan` says (indices of
    jobs: `groups`, split and ordered by launch/schedule.py), and write each pack's file and the sweep's
    planned_runs.json."""
    overrides = [list(o) for o in job_overrides]
    names = run_names(overrides, [c.seed for c in configs], list(flatten(to_plain(configs[0]))), axes)
    all_dirs = prepare_runs(sweep_dir, names, configs, plan, command_line())
    # What the sweep set out to train: a table names the runs that never left a summary.
    planned = {"experiment": configs[0].name, "runs": [d.name for d in all_dirs]}
    atomic_write(sweep_dir / PLANNED_RUNS, json.dumps(planned, indent=1) + "\n")
    swept = swept_config_keys(overrides, axes)
    packs = []
    for number, group in enumerate(plan):
        pack = Pack(number, [all_dirs[i].name for i in group], [overrides[i] for i in group], swept)
        write_pack(sweep_dir, pack)
        packs.append(pack)
    return packs


def train_pack(job_dir: Path, sweep_dir: Path, job_num: int = 0, in_pool: bool = False) -> list[dict]:
    """A launcher job's work: train the pack whose job directory this is, from its
    checkpoint if it left one (a requeued or relaunched job continues; a finished pack
    returns its summaries). Under the joblib launcher on a machine with several GPUs,
    pack n trains on GPU n mod the GPU count. in_pool: this is a worker of the joblib
    launcher's pool, which must not see a KeyboardInterrupt (stopping.py)."""
    import torch

    from . import stopping
    from .resume import confined, resume_group

    names, swept = read_pack(job_dir)
    run_dirs = confined(sweep_dir, names)  # a pack file never sends training outside its sweep
    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(job_num % torch.cuda.device_count())
    log = arm_log(str(OmegaConf.load(run_dirs[0] / "config.yaml").name), pack_arm(job_dir))
    if in_pool:
        return stopping.in_pool(sweep_dir, lambda: resume_group(run_dirs, log, swept=swept))
    return resume_group(run_dirs, log, swept=swept)


def arm_log(name: str, arm: str):
    """Print training's lines to stderr, each `NAME: ...` line (NAME: the experiment) as
    `NAME [arm]: ...`: in a sweep of several packs, which arm is training."""

    def log(message: str) -> None:
        if arm and message.startswith(f"{name}: "):
            message = f"{name} [{arm}]: {message[len(name) + 2 :]}"
        print(message, file=sys.stderr)

    return log
