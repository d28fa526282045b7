"""Build, train, calibrate and evaluate digitwatch models from MNIST."""

DEFAULT_EPOCHS = 30  # the shipped model's recipe; see README "Retraining"
DEFAULT_NEGATIVES = 6000  # synthetic non-digits per run, about a tenth of the training set
