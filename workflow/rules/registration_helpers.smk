# Helpers of the registration stage (included by registration.smk): its config section,
# path patterns and sweep, which the similarity stage reads too (similarity.smk).

REG = config["registration"]
REG_DATA = "results/registration/data/seed{seed}.pt"
REG_MODEL = "results/registration/models/{noise}/sigma{sigma}/seed{seed}.pt"
# A trained model's tables: {REG_TRAIN}.csv and {REG_TRAIN}_curves.csv (provenance: per seed job).
REG_TRAIN = "results/registration/train/{noise}/sigma{sigma}/seed{seed}"
REG_SIGMAS = [f"{s:g}" for s in REG["sigmas"]]
REG_NOISES = list(REG["noises"])
# Gate settings (config section gates) of the claims resting on registration models.
REG_GATES = ("min_loss_drop", "registration_min_r2", "registration_max_floor_px")
# The (noise, sigma) models one registration_train job (one seed) writes, in order.
REG_RUNS = [(noise, sigma) for noise in REG_NOISES for sigma in REG_SIGMAS]


def reg_seed_files(pattern):
    """The files of ``pattern`` (REG_MODEL or a REG_TRAIN suffix) of every model of a seed
    job, in the order of REG_RUNS (the job's params.runs)."""
    return [pattern.format(noise=n, sigma=s, seed="{seed}") for n, s in REG_RUNS]
