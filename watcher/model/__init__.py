"""The model: loading it on LiteRT or Keras, and classifying prepared images."""
