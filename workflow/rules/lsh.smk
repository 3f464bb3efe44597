# Stage lsh: rules arrive with its issue; registers STAGE_TARGETS["lsh"].
