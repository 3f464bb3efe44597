"""Stage lsh (Dikkala, Kaplun, Panigrahy 2021): data x = G(gamma, theta) on manifolds,
classifiers on seen manifolds, and their embeddings as locality-sensitive hashes of gamma
(theta-invariance, sign-hash collisions, one-shot learning of unseen manifolds)."""
