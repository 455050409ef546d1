"""The documents a run folder and a model file carry, declared once as JSON Schemas.

``metrics.json`` (written by ``train`` and ``evaluate``, read by ``report``) and a model file's
``extra`` (written by ``save_model``, read by ``evaluate``) are checked against these where they
are read, so a damaged or hand-edited file gets one message naming the file and the field instead
of a ``KeyError`` deep in the report. Only what the readers use is required; other fields may
be added freely.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import InputError

__all__ = ["AUGMENTED_ATTRS_SCHEMA", "FIT_SCHEMA", "METRICS_SCHEMA", "MODEL_EXTRA_SCHEMA", "SchemaError", "validate"]


class SchemaError(InputError, ValueError):
    """A document does not match its schema; the message names the file and the field."""


_NUMBER = {"type": "number"}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}

#: the ``fit`` part of metrics.json and of a model file's extra (every field optional)
FIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "fit_time_s": {"type": "number", "minimum": 0},
        "n_iter": _COUNT,
        "converged": {"type": ["boolean", "null"]},
        "features": {"type": "string"},
        "n_features": _COUNT,
        "features_time_s": {"type": "number", "minimum": 0},
        "augment": _COUNT,
        "C": {"type": ["number", "null"]},
        "penalty": {"type": ["string", "null"]},
    },
}

#: metrics.json of a run folder
METRICS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["test", "options"],
    "properties": {
        "test": {
            "type": "object",
            "required": ["accuracy", "n_samples", "report_text", "per_class", "confusion_matrix"],
            "properties": {
                "accuracy": _SHARE,
                "n_samples": _COUNT,
                "report_text": {"type": "string"},
                "log_loss": {"type": ["number", "null"]},
                "per_class": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {
                        "type": "object",
                        "required": ["precision", "recall", "f1-score", "support"],
                        "properties": {"precision": _SHARE, "recall": _SHARE, "f1-score": _SHARE,
                                       "support": {"type": "number", "minimum": 0}},
                    },
                },
                "confusion_matrix": {"type": "array", "items": {"type": "array", "items": _COUNT}},
            },
        },
        "options": {
            "type": "object",
            "required": ["task", "model"],
            "properties": {"task": {"type": "string"}, "model": {"type": "string"},
                           "model_file": {"type": ["string", "null"]}},
        },
        "fit": FIT_SCHEMA,
        "train": {"type": "object", "required": ["accuracy"], "properties": {"accuracy": _SHARE}},
        "cross_validation": {
            "type": "object",
            "required": ["k", "scores", "mean", "std"],
            "properties": {"k": {"type": "integer", "minimum": 2}, "scores": {"type": "array", "items": _SHARE},
                           "mean": _SHARE, "std": {"type": "number", "minimum": 0}},
        },
        "learning_curve": {
            "type": "array",
            "items": {"type": "object", "required": ["n", "test_accuracy"],
                      "properties": {"n": _COUNT, "test_accuracy": _SHARE}},
        },
        "path": {
            "type": "object",
            "required": ["rows", "chosen_C", "selected_by"],
            "properties": {
                "rows": {"type": "array", "minItems": 1,
                         "items": {"type": "object", "required": ["C", "validation_accuracy"],
                                   "properties": {"C": {"type": "number", "exclusiveMinimum": 0},
                                                  "validation_accuracy": _SHARE}}},
                "chosen_C": {"type": "number", "exclusiveMinimum": 0},
                "selected_by": {"type": "string"},
            },
        },
        "versions": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "data": {
            "type": "object",
            "properties": {"source": {"type": "string"},
                           "checksums": {"type": ["object", "null"], "additionalProperties": {"type": "string"}}},
        },
        "created": {"type": "string"},
    },
}

#: the ``extra`` document of a model file
MODEL_EXTRA_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"fit": FIT_SCHEMA}}


#: the attributes of an augmented-digit store (``zarr.json``), read by ``open_augmented``
AUGMENTED_ATTRS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "n", "chunk_rows", "sha256"],
    "properties": {
        "format": {"type": "string"},
        "n": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer"},
        "chunk_rows": {"type": "integer", "minimum": 1},
        "n_source": {"type": "integer", "minimum": 0},
        "distortion": {"type": "object"},
        "source_checksums": {"type": "object"},
        "sha256": {
            "type": "object",
            "required": ["images", "labels"],
            "properties": {"images": {"type": "array", "items": {"type": "string"}},
                           "labels": {"type": "array", "items": {"type": "string"}}},
        },
    },
}


def validate(document: Any, schema: dict[str, Any], where: str | os.PathLike[str]) -> None:
    """Raise :class:`SchemaError` naming ``where`` and the first bad field when ``document`` does
    not match ``schema``.

    Parameters
    ----------
    document : object
        The parsed JSON document.
    schema : dict
        One of this module's schemas.
    where : str or path
        The file (or file and member) the document came from, for the message.
    """
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is None:
        return
    field = ".".join(str(part) for part in error.absolute_path) or "(the document)"
    raise SchemaError(f"{where}: field {field!r}: {error.message}")
