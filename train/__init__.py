"""Build, train, calibrate and evaluate digitwatch models from MNIST."""

DEFAULT_EPOCHS = 24  # the shipped model's recipe; see docs/model.md, "Retraining"
DEFAULT_NEGATIVES = 12000  # synthetic non-digits per run, about a seventh of what the model sees
DEFAULT_VARIANTS = 15000  # thick-marker and low-resolution redrawings of training digits
DEFAULT_TYPESET = 0  # printed digits in the training fonts (train/typeset.py): not yet in the shipped recipe
DEFAULT_MEMBERS = 2  # networks in the shipped ensemble; see docs/model.md, "Retraining"
