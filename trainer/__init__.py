"""The DTM and its trainer: the model and its files, its run config, the data and forward process,
training with the ACP, and the quality measures (classifier, Frechet distance, plots)."""
