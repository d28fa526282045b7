"""Export a trained Keras model to LiteRT (NAME.tflite beside NAME.keras) and check it agrees.

The service runs the .tflite with the LiteRT interpreter, so it starts without
importing TensorFlow (see `watcher/backends.py`). The export records the
SHA-256 of the Keras file it came from; the service uses the .tflite only
while that record matches, so a retrained .keras is never shadowed by an old
export. Rerun after replacing a model:

    python -m train.export watcher/models/default.keras --data ../shared/data/mnist.npz
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watcher.backends import LITERT_SUFFIX, SOURCE_KEY, LiteRTBackend, file_sha256, import_keras_quietly

log = logging.getLogger(__name__)


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
        text = (f"{self.same_digit}/{self.digits} same digit ({self.same_digit / self.digits:.2%}), "
                f"largest output difference {self.max_output_difference:.2e}")
        if self.keras_accuracy is not None:
            text += f"; accuracy Keras {self.keras_accuracy:.4f}, LiteRT {self.litert_accuracy:.4f}"
        return text


def export_litert(keras_path: Path, *, output: Path | None = None) -> Path:
    """Convert a .keras model to NAME.tflite beside it (float32, no quantisation); return its path."""
    keras = import_keras_quietly()
    output = output or keras_path.with_suffix(LITERT_SUFFIX)
    model = keras.models.load_model(keras_path, compile=False)
    with tempfile.TemporaryDirectory(prefix="digitwatch_export_") as scratch:
        converted = Path(scratch) / "model.tflite"
        model.export(str(converted), format="litert", verbose=False)
        content = with_source_digest(converted.read_bytes(), file_sha256(keras_path))
    partial = output.with_name(output.name + ".part")
    partial.write_bytes(content)
    os.replace(partial, output)  # a reader never sees half a model
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
    reference = np.asarray(keras.models.load_model(keras_path, compile=False).predict(inputs, batch_size=1024, verbose=0))
    backend = LiteRTBackend(tflite_path)
    exported = np.concatenate([backend.predict(inputs[i : i + 1024]) for i in range(0, len(inputs), 1024)])
    same = reference.argmax(axis=1) == exported.argmax(axis=1)
    accuracies = (None, None) if labels is None else (
        float((reference.argmax(axis=1) == labels).mean()), float((exported.argmax(axis=1) == labels).mean()))
    return Agreement(digits=len(inputs), same_digit=int(same.sum()),
                     max_output_difference=float(np.abs(reference - exported).max()),
                     keras_accuracy=accuracies[0], litert_accuracy=accuracies[1])


def main(argv: list[str] | None = None) -> int:
    """`python -m train.export [MODEL.keras ...] [--data MNIST.npz]`."""
    parser = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="Keras models to export (default: the shipped model)")
    parser.add_argument("--data", type=Path, help="MNIST .npz: compare Keras and LiteRT on its 10,000 test digits")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from watcher.classifier import default_model_path

    for keras_path in args.models or [default_model_path()]:
        tflite_path = export_litert(keras_path)
        if args.data:
            from train.data import load_mnist
            from train.fit import normalise_digits

            dataset = load_mnist(args.data)
            agreement = compare(keras_path, tflite_path, normalise_digits(dataset.x_test), dataset.y_test)
            print(f"{tflite_path}: {agreement.summary()}")
            if agreement.same_digit != agreement.digits:
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
