# Stage isometry: rules arrive with its issue; registers STAGE_TARGETS["isometry"].
