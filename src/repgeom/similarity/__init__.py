"""Stage similarity (Charpiat et al. 2019): the network's own similarity between inputs
from per-sample parameter gradients (kernel), the density N_S of similar samples in
O(n p), retrieval, the denoising factor predicted from the kernel, the paper's toy, and
the similarity-enforcing training term (claims S1-S4)."""
