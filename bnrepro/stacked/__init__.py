"""K runs of one architecture as one model: what a training step computes with.

- params.py: every parameter of every run in one flat buffer, laid out layer by layer;
- model.py: StackedNet, the MLP and the conv nets (convnet, vgg) for K runs (forward takes its mode);
- norms.py: the normalization layers (torch, paper, renorm) and their registry;
- decorrelated.py: decorrelated BN (Huang et al. 2018), groups of units ZCA-whitened over the batch;
- optim.py: SGD with momentum and weight decay, per-run hyper-parameters, the lr schedule
  (with section 4.2.1's lr multiplier, weight-decay divisor and faster decay);
- rng.py: counter-based random numbers (data order, dropout, augmentation) per run.

May import: config. Nothing here knows of files, Hydra or the training loop.
"""
