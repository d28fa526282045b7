"""The default digit classifier: a small convolutional network for 28x28 inputs."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10

Tensor = Any  # a symbolic Keras tensor; Keras ships no type information


def _conv_block(x: Tensor, filters: int, *, kernel_size: int = 3, strides: int = 1, padding: str = "valid") -> Tensor:
    """Convolution, batch normalisation, ReLU: the unit every stage is built from."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_model(*, dropout: float = 0.3, name: str = "digitwatch_cnn") -> keras.Model:
    """Return the uncompiled CNN; its last layer outputs logits (softmax is applied at inference).

    Two stages of two 3x3 convolutions each, downsampled by a strided 5x5
    convolution (a learnable pooling), then one dense layer. About 0.3 M
    parameters: small enough to train on two CPU cores in minutes.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_block(inputs, 32)  # 26x26
    x = _conv_block(x, 32)  # 24x24
    x = _conv_block(x, 32, kernel_size=5, strides=2, padding="same")  # 12x12
    x = layers.Dropout(dropout)(x)
    x = _conv_block(x, 64)  # 10x10
    x = _conv_block(x, 64)  # 8x8
    x = _conv_block(x, 64, kernel_size=5, strides=2, padding="same")  # 4x4
    x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
