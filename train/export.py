"""Export a trained Keras model to LiteRT (NAME.tflite beside NAME.keras) and check it agrees.

The service runs the .tflite with the LiteRT interpreter, so it starts without
importing TensorFlow (see `watcher/model/backends.py`). The export records the
SHA-256 of the Keras file it came from; the service uses the .tflite only
while that record matches, so a retrained .keras is never shadowed by an old
export. `digitwatch train` exports every model it writes; after replacing a
.keras file by other means, export it again:

    digitwatch convert watcher/models/default.keras --data ../shared/data/mnist.npz
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data import load_mnist, normalise_digits
from watcher.model.backends import LITERT_SUFFIX, SOURCE_KEY, LiteRTBackend, file_sha256, import_keras_quietly

log = logging.getLogger(__name__)

KERAS_SUFFIX = ".keras"  # Keras 3's own format; the one `digitwatch train` writes


class ExportError(Exception):
    """The model cannot be exported: missing, not a .keras file, or not convertible to LiteRT."""


@dataclass(frozen=True)
class Agreement:
    """How closely the exported model matches the Keras one on the same inputs."""

    digits: int
    same_digit: int  # inputs whose predicted class is the same
    max_output_difference: float  # largest absolute difference of any output (logit or probability)
    keras_accuracy: float | None = None
    litert_accuracy: float | None = None

    def summary(self) -> str:
        """One line for a person."""
        text = (
            f"{self.same_digit}/{self.digits} same digit ({self.same_digit / self.digits:.2%}), "
            f"largest output difference {self.max_output_difference:.2e}"
        )
        if self.keras_accuracy is not None:
            text += f"; accuracy Keras {self.keras_accuracy:.4f}, LiteRT {self.litert_accuracy:.4f}"
        return text


@dataclass(frozen=True)
class Conversion:
    """What `convert` wrote and, when it was checked on MNIST, how well it agrees with Keras."""

    tflite_path: Path
    size: int  # bytes
    agreement: Agreement | None = None


def convert(keras_path: Path, *, data: Path | None = None) -> Conversion:
    """Export a .keras model to NAME.tflite beside it; with MNIST `data`, compare both on its test digits."""
    if not keras_path.is_file():
        raise ExportError(f"model file not found: {keras_path}")
    if keras_path.suffix.lower() != KERAS_SUFFIX:
        raise ExportError(
            f"{keras_path} is not a {KERAS_SUFFIX} file; convert takes a model saved by Keras 3 "
            f"(model.save('NAME{KERAS_SUFFIX}'))"
        )
    dataset = load_mnist(data) if data is not None else None  # a wrong data path fails before the slow export
    tflite_path = export_litert(keras_path)
    agreement = None
    if dataset is not None:
        agreement = compare(keras_path, tflite_path, normalise_digits(dataset.x_test), dataset.y_test)
    return Conversion(tflite_path=tflite_path, size=tflite_path.stat().st_size, agreement=agreement)


def export_litert(keras_path: Path, *, output: Path | None = None) -> Path:
    """Convert a .keras model to NAME.tflite beside it, its weights quantised to 8 bits; return its path.

    Dynamic-range quantisation: weights are stored as int8 and each image's
    activations are quantised on the fly, row by row, so an image's outputs
    never depend on the others in its batch. XNNPACK runs it 3.5 times as fast
    as float32 (docs/benchmarks.md, "Speed"), and the shipped model reads the same digit
    on all 10,000 MNIST test digits either way. Inputs and outputs stay float32.

    Raises ExportError when Keras cannot load the model, the converter cannot
    take it, or the .tflite cannot be written.
    """
    keras = import_keras_quietly()
    output = output or keras_path.with_suffix(LITERT_SUFFIX)
    try:
        import tensorflow as tf

        model = keras.models.load_model(keras_path, compile=False)
        with tempfile.TemporaryDirectory(prefix="digitwatch_export_") as scratch:
            converted = Path(scratch) / "model.tflite"
            model.export(str(converted), format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT])
            content = with_source_digest(converted.read_bytes(), file_sha256(keras_path))
    except Exception as exc:  # Keras and the converter raise many unrelated types for a model they cannot take
        raise ExportError(f"{keras_path} could not be converted to LiteRT: {exc.__class__.__name__}: {exc}") from exc
    partial = output.with_name(output.name + ".part")
    try:
        partial.write_bytes(content)
        os.replace(partial, output)  # a reader never sees half a model
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot write {output}: {exc}") from exc
    log.info("exported %s to %s (%d bytes)", keras_path, output, len(content))
    return output


def with_source_digest(tflite: bytes, digest: str) -> bytes:
    """The same model with the Keras file's SHA-256 recorded in its metadata."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(digest.encode("ascii"), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = SOURCE_KEY, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != SOURCE_KEY.encode()] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def compare(keras_path: Path, tflite_path: Path, inputs: np.ndarray, labels: np.ndarray | None = None) -> Agreement:
    """Run both models on the same normalised digits (N, 28, 28, 1) and compare their outputs."""
    keras = import_keras_quietly()
    model = keras.models.load_model(keras_path, compile=False)
    reference = np.asarray(model.predict(inputs, batch_size=1024, verbose=0))
    backend = LiteRTBackend(tflite_path)
    exported = np.concatenate([backend.predict(inputs[i : i + 1024]) for i in range(0, len(inputs), 1024)])
    same = reference.argmax(axis=1) == exported.argmax(axis=1)
    keras_accuracy = litert_accuracy = None
    if labels is not None:
        keras_accuracy = float((reference.argmax(axis=1) == labels).mean())
        litert_accuracy = float((exported.argmax(axis=1) == labels).mean())
    return Agreement(
        digits=len(inputs),
        same_digit=int(same.sum()),
        max_output_difference=float(np.abs(reference - exported).max()),
        keras_accuracy=keras_accuracy,
        litert_accuracy=litert_accuracy,
    )
