"""Batch augmentation that makes MNIST look like other writers and other scanners.

Everything runs as a few TensorFlow ops per batch, seeded per batch, so that a
`--seed` gives the same augmented stream every time and two CPU cores keep up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

CENTRE = 14.0  # pixels: MNIST's centre of mass, the pivot for every warp


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly to distort: enough to look like other writers and scanners, not so much that digits change.

    The defaults are the shipped model's recipe; docs/model.md, "Retraining", gives its test accuracy.
    """

    rotation_degrees: float = 12.0
    shear: float = 0.3  # slant: horizontal shift per pixel of height
    zoom: float = 0.12  # +-12% size
    aspect: float = 0.12  # +-12% width against height
    shift: float = 2.0  # pixels
    thicken_share: float = 0.25  # share of digits drawn with a thicker pen
    thin_share: float = 0.15  # share drawn with a thinner pen
    blur_share: float = 0.15
    noise_share: float = 0.15
    noise_sigma: float = 0.08


def augment_batch(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """Distort a batch (N, 28, 28, 1) float32 in [0, 1]; `seed` is a shape-[2] int tensor."""
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    images = _random_pen_width(images, seeds[0], seeds[1], config)
    images = _random_affine(images, seeds[2], config)
    images = _random_blur(images, seeds[3], config)
    images = _random_noise(images, seeds[4], seeds[5], config)
    return tf.clip_by_value(images, 0.0, 1.0)


def _uniform(seed: tf.Tensor, n: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform([n], seed, minval=low, maxval=high)


def _random_affine(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Rotate, slant, scale and shift each digit with one projective warp."""
    n = tf.shape(images)[0]
    s = tf.random.experimental.stateless_split(seed, num=6)
    angle = _uniform(s[0], n, -1.0, 1.0) * (config.rotation_degrees * math.pi / 180.0)
    shear = _uniform(s[1], n, -config.shear, config.shear)
    zoom = tf.exp(_uniform(s[2], n, -config.zoom, config.zoom))
    aspect = tf.exp(_uniform(s[3], n, -config.aspect, config.aspect))
    shift_x = _uniform(s[4], n, -config.shift, config.shift)
    shift_y = _uniform(s[5], n, -config.shift, config.shift)
    # The warp maps output pixels to input pixels; every distribution here is
    # symmetric, so sampling that inverse map directly is as good as inverting.
    scale_x, scale_y = zoom * aspect, zoom / aspect
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0 = cos * scale_x
    a1 = (cos * shear - sin) * scale_y
    b0 = sin * scale_x
    b1 = (sin * shear + cos) * scale_y
    a2 = CENTRE - a0 * CENTRE - a1 * CENTRE + shift_x
    b2 = CENTRE - b0 * CENTRE - b1 * CENTRE + shift_y
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _random_pen_width(
    images: tf.Tensor, seed_pick: tf.Tensor, seed_amount: tf.Tensor, config: AugmentConfig
) -> tf.Tensor:
    """Thicken or thin strokes for a share of the digits (grey dilation or erosion)."""
    n = tf.shape(images)[0]
    pick = tf.random.stateless_uniform([n, 1, 1, 1], seed_pick)
    amount = tf.random.stateless_uniform([n, 1, 1, 1], seed_amount, minval=0.4, maxval=1.0)
    thicker = tf.nn.max_pool2d(images, ksize=3, strides=1, padding="SAME")
    thinner = -tf.nn.max_pool2d(-images, ksize=3, strides=1, padding="SAME")
    thick = pick < config.thicken_share
    thin = (pick >= config.thicken_share) & (pick < config.thicken_share + config.thin_share)
    images = tf.where(thick, images + amount * (thicker - images), images)
    images = tf.where(thin, images + amount * (thinner - images), images)
    # The normaliser stretches every digit to full strength; so must a thinned one.
    peak = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return images / tf.maximum(peak, 1e-3)


def _random_blur(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Soften a share of the digits with a 3x3 Gaussian, as an out-of-focus photo does."""
    n = tf.shape(images)[0]
    kernel = tf.constant([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
    blurred = tf.nn.conv2d(images, tf.reshape(kernel, [3, 3, 1, 1]), strides=1, padding="SAME")
    chosen = tf.random.stateless_uniform([n, 1, 1, 1], seed) < config.blur_share
    return tf.where(chosen, blurred, images)


def _random_noise(images: tf.Tensor, seed_pick: tf.Tensor, seed_noise: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Add Gaussian noise to a share of the digits, as a grainy scan has."""
    n = tf.shape(images)[0]
    noise = tf.random.stateless_normal(tf.shape(images), seed_noise, stddev=config.noise_sigma)
    chosen = tf.random.stateless_uniform([n, 1, 1, 1], seed_pick) < config.noise_share
    return tf.where(chosen, images + noise, images)
