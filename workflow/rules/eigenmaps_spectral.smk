# Stage eigenmaps, spectral part (Deng et al. 2022): circle toy with exact Fourier
# eigenfunctions (E1) and graphs: SBM and karate club (E4).
