"""The scheduling rule (launch/schedule.py): which packs train at once, in how many processes."""

from __future__ import annotations

import pytest

from bnrepro.launch.schedule import MIN_RUN_STEPS, ScheduleError, balance, choose, named_launcher, split

BIG = 10 * MIN_RUN_STEPS
FOUR = [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_several_packs_on_a_big_cpu_sweep_train_one_per_core_on_one_thread_each():
    schedule = choose(FOUR, BIG, cores=2, gpu=False)
    assert schedule.processes == 2 and schedule.groups == FOUR
    assert schedule.line(2).startswith("4 packs on 2 processes x 1 thread (auto:")
    assert choose([[0], [1], [2]], BIG, cores=8, gpu=False).processes == 3  # never more processes than packs


def test_one_pack_is_split_in_halves_to_fill_the_cores_and_one_run_stays_in_this_process():
    assert choose([[0, 1, 2, 3, 4]], BIG, cores=2, gpu=False).groups == [[0, 1, 2], [3, 4]]
    one = choose([[0]], BIG, cores=2, gpu=False)
    assert one.processes == 1 and one.groups == [[0]]
    assert split([[0, 1, 2, 3], [4]], 4) == [[0], [1], [2, 3], [4]]  # the largest first, in place


@pytest.mark.parametrize(
    "kwargs, why",
    [
        (dict(run_steps=MIN_RUN_STEPS - 1), "below"),  # the tests' and reproduce.sh --quick's sweeps
        (dict(gpu=True), "GPU"),
        (dict(threads_set=True), "train.threads"),
        (dict(cores=1), "one core"),
        (dict(processes=1), "train.processes=1"),
    ],
)
def test_small_work_a_gpu_the_users_threads_one_core_or_processes_1_keep_this_process(kwargs, why):
    args = dict(groups=FOUR, run_steps=BIG, cores=2, gpu=False) | kwargs
    schedule = choose(**args)
    assert schedule.processes == 1 and schedule.groups == FOUR and why in schedule.why
    assert schedule.line(2).startswith("4 packs in this process, one after another")


def test_the_users_choices_win_and_contradictions_are_refused():
    forced = choose([[0, 1, 2, 3]], 20, cores=2, gpu=True, processes=3)
    assert forced.processes == 3 and forced.groups == [[2, 3], [0], [1]]  # split, then the largest first
    named = choose(FOUR, BIG, cores=2, gpu=False, launcher_named="joblib")
    assert named.processes is None and named.groups == FOUR  # the launcher's own n_jobs decide
    with pytest.raises(ScheduleError, match=r"train.processes=2 and hydra/launcher=local"):
        choose(FOUR, BIG, cores=2, gpu=False, processes=2, launcher_named="local")


def test_a_launcher_is_named_on_the_command_line_or_by_a_config():
    basic = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
    assert named_launcher(["hydra.sweep.dir=x"], basic) is None
    assert named_launcher(["hydra/launcher=basic"], basic) == "basic"
    assert named_launcher([], "hydra_plugins.bnrepro.LocalLauncher") == "LocalLauncher"


def test_on_the_cpu_a_wide_conv_nets_packs_are_cut_to_one_run_and_other_packs_stay_whole():
    from bnrepro.launch.packs import CPU_CONV_PACK_MAX_WIDTH, cpu_pack_limit
    from bnrepro.launch.sweep import groups
    from conftest import tiny

    wide = tiny(model__arch="convnet", model__width=2 * CPU_CONV_PACK_MAX_WIDTH)
    narrow, mlp = tiny(model__arch="convnet", model__width=8), tiny()
    configs = [wide, wide, wide, narrow, narrow, mlp, mlp]
    on_the_cpu = groups(configs, batch=True, max_runs=64, limit=lambda cfg: cpu_pack_limit(cfg.model))
    assert on_the_cpu == [[0], [1], [2], [3, 4], [5, 6]]
    assert groups(configs, batch=True, max_runs=64) == [[0, 1, 2], [3, 4], [5, 6]]  # no limit: a GPU's packs


def _packs(*sizes: int) -> list[list[int]]:
    start, packs = 0, []
    for n in sizes:
        packs.append(list(range(start, start + n)))
        start += n
    return packs


def test_packs_start_largest_first_and_the_one_that_would_end_last_is_split_while_that_ends_sooner():
    # fig3 on 7 Dec: packs of 5, 10, 10, 5, 5 runs of equal length on 2 processes ended at 20 runs'
    # time on one process and 15 on the other; largest first and the last 5 split as 3 + 2: 18 and 17
    fig3 = _packs(5, 10, 10, 5, 5)
    balanced = balance(fig3, [8000] * 35, 2)
    assert [len(p) for p in balanced] == [10, 10, 5, 5, 3, 2]
    assert sorted(i for p in balanced for i in p) == list(range(35))  # every run once
    assert balanced[4:] == [[30, 31, 32], [33, 34]]  # the pack that ended last, first runs first
    assert choose(fig3, BIG, cores=2, gpu=False, work=[8000] * 35).groups == balanced
    # the runs' steps weigh: one long run outweighs three short ones, and nothing shorter ends sooner
    assert balance([[0], [1, 2, 3]], [900, 100, 100, 100], 2) == [[0], [1, 2, 3]]
    assert balance(FOUR, [1] * 8, 2) == FOUR  # balanced already: unchanged, in order
    # two long runs and four short ones: the long pack split to one run each, then the short one in halves
    assert balance([[0, 1], [2, 3, 4, 5]], [100, 100, 10, 10, 10, 10], 2) == [[0], [1], [2, 3], [4, 5]]
