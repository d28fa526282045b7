"""Reading files: formats, decoding, normalising to the model's 28x28 input, and the decode workers."""
