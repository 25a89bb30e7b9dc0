"""bnrepro: reproduce the Batch Normalization paper (Ioffe & Szegedy 2015) and the claims
that followed it.

Data flows one way, and each folder is one part of it; a part imports only the parts
listed before it (config is the bottom, cli.py the top):

    config/    the typed schema every Hydra config is merged into, range checks, which
               runs a claim's conditions select (arms)
    data/      datasets as tensors on the training device, fetched and verified
    stacked/   K runs at once: flat parameters, the networks (MLP, conv nets, the LSTM of
               lstm.py), norm layers (a registry), SGD, counter-based random numbers
    run/       one group of runs trained: the loop, the step (and CUDA graphs around
               it), sampler, augmentation, evaluation, probes, Santurkar et al.'s measures,
               fetcher, writers, tags, provenance, checkpoints and signals, how a CPU
               run uses the machine (memory kept, threads)
    launch/    `bnrepro train` and `bnrepro resume`: the Hydra app, sweeper and
               launcher glue, run names, how a sweep's packs share the cores (schedule.py)
    report/    runs -> tables (the paper's Figure 3 format too), claim verdicts, the
               claims report, figures
    bench/     `bnrepro bench`: speed against the plain PyTorch loop, and how busy the
               machine was
    cli.py     the `bnrepro` command: dispatches to the parts above

Where things go: a new experiment is a file in conf/experiment/; a probe, a function
registered with @probe(name, Tags(...)) (run/probes.py: the tags it logs, with their
meaning); a norm layer, one module with its options' dataclass and its class registered
with @norm_layer(name, Options, eval_stats=...) (see stacked/norms.py), plus
conf/norm/NAME.yaml; a config key, one key(default, help, range) field in
config/schema.py. docs/tags.md and docs/config.md are generated from those declarations
(scripts/gen_docs.py). A writer goes in run/writers.py; a table column or claim rule, report/.
"""
