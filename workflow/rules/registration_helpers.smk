# Helpers of the registration stage (included by registration.smk): its config section,
# path patterns and sweep, which the similarity stage reads too (similarity.smk).

REG = config["registration"]
REG_DATA = "results/registration/data/seed{seed}.pt"
REG_MODEL = "results/registration/models/{noise}/sigma{sigma}/seed{seed}.pt"
# A trained model's tables: {REG_TRAIN}.csv and {REG_TRAIN}.provenance.json.
REG_TRAIN = "results/registration/train/{noise}/sigma{sigma}/seed{seed}"
REG_SIGMAS = [f"{s:g}" for s in REG["sigmas"]]
REG_NOISES = list(REG["noises"])
# Gate settings (config section gates) of the claims resting on registration models.
REG_GATES = ("min_loss_drop", "registration_max_floor_px")
