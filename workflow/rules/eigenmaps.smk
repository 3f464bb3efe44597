# Stage eigenmaps (Deng et al. 2022): self-supervised pretraining with the neural
# eigenfunction loss and baselines, truncated retrieval, linear probe; claims E2-E3.
