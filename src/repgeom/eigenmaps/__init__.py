"""Stage eigenmaps (Deng, Shi, Zhang, Cui, Lu, Zhu 2022, "Neural Eigenfunctions Are
Structured Representation Learners"): the neural-eigenfunction loss (``loss``), whose
ordered outputs converge to the principal eigenfunctions of the augmentation kernel,
checked on a circle toy with exact Fourier eigenfunctions (``toy``) and on graphs against
the exact eigenvectors of the normalised adjacency (``graph``)."""
