"""Adversarial evaluation of the isometry models (Beshkov et al. 2022, issue 5):
FGSM over the paper's epsilon grid, real multi-step PGD, AutoAttack (standard, L-inf)
and Square as a black-box check, with torchattacks; the authors' attack-loss variant
(cross-entropy plus the isometry term); gradient-masking sanity checks; claims I3/I4."""
