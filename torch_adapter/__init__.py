"""torch_adapter: a thin PyTorch layer over schedcore (Learner, callbacks, schedulers)."""
