"""One group of runs trained, probed and written: the one training loop.

- loop.py: train_runs(configs, run_dirs), the loop: a GroupSession sets up, steps, probes,
  evaluates, writes and finishes; ending.py decides how it ended (statuses, `ended_as`, exit);
- step.py: train_step, one step as a plain function; graphs.py wraps it in CUDA graphs;
- sampler.py: each run's mini-batches, gathered on the device;
- augment.py: random crops and flips of those batches, on the device (data.augment);
- evaluation.py: test metrics under each choice of BN statistics;
- probes.py: what is measured at probe steps (gradient norms, nonlinearity inputs);
- measures.py: Santurkar et al.'s measures (ICS, the loss landscape along the gradient),
  which re-evaluate a probe step's mini-batch at other points of the parameters;
- fetcher.py: device-to-host copies without stalling the device;
- tags.py: the names of everything logged, and the TensorBoard layout; logged_tags.py:
  which tags a configuration will log (claims are checked against it before training);
- writers.py: TensorBoard events, scalars.csv, summary.json, config.yaml per run, written as it goes;
- checkpoint.py: the group's whole state saved and restored (exact resume), checked
  (configuration, version, commit), and the pacing of periodic checkpoints;
- signals.py: the signals that stop a group cleanly (SLURM's SIGUSR2 handed on to
  submitit afterwards), and Interrupted;
- lock.py: one writer per group: the lock a group holds while it trains, its heartbeat;
- files.py: atomic writes and valid JSON; provenance.py: commit, versions, device.

May import: config, data, stacked.
"""
