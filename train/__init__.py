"""Build, train, calibrate and evaluate digitwatch models from MNIST."""

DEFAULT_EPOCHS = 30  # the shipped model's recipe; see README "Retraining"
