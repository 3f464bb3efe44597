# Stage adversarial: rules arrive with its issue; registers STAGE_TARGETS["adversarial"].
