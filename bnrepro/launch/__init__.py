"""`bnrepro train`: from a command line to groups of runs handed to run.train_runs.

- app.py: the Hydra application (the conf/ directory, plugin registration);
- sweep.py: check every job before anything exists, group compatible jobs, launch;
- runnames.py: run directory names from the overrides that vary; exclusive creation;
- declared_arms.py: an experiment's arms listed as override sets (hydra.sweeper.arms),
  each crossed with params only: checked, picked from the command line, expanded to jobs;
- completion.py: tab completion of enum values and `--cfg` of a sweep, without torch;
- resume.py: `bnrepro resume SWEEP_DIR` (groups from the pack files, confined to the
  sweep; every group it can, the others reported), and resume_group(run_dirs) for a cluster job;
- local.py: bnrepro's local runner (`hydra/launcher=local`): packs in independent child
  processes, n at a time; one killed leaves the others training;
- stopping.py: Ctrl-C of a sweep whose packs train in joblib's worker processes;
- outcomes.py: how a sweep or resume ends when some groups were busy or killed (exit statuses);
- hydra_internals.py: every use of Hydra's internals, pinned by tests/test_hydra_internals.py;
- hydra_plugin/: the sweeper and launcher classes Hydra instantiates (installed as
  hydra_plugins.bnrepro); they hold no logic.

May import: config, data, run.
"""
