# Stage registration (Charpiat et al. 2019): generated multimodal scenes, a CNN
# trained on noisy displacement labels, error against truth; claim R1 and figures.
