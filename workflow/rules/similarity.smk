# Stage similarity (Charpiat et al. 2019): gradient kernel, density N_S, retrieval,
# predicted vs measured denoising, toy, similarity-enforcing MNIST training; S1-S4.
