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
               launcher glue, run names
    report/    runs -> tables (the paper's Figure 3 format too), claim verdicts, the
               claims report, figures
    bench/     `bnrepro bench`: speed against the plain PyTorch loop, and how busy the
               machine was
    cli.py     the `bnrepro` command: dispatches to the parts above

Where things go: a new experiment is a file in conf/experiment/; a probe, a function
in run/probes.py and its tags in run/tags.py; a norm layer, a class registered in
stacked/norms.py with its options' dataclass in config/schema.py and conf/norm/NAME.yaml;
a writer, run/writers.py; a table column or claim rule, report/.
"""
