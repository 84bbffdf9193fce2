"""Grasp labels in annotation tools' formats: pre-labels from the model, imports to Cornell.

``rectangles`` converts one grasp rectangle to and from each tool's shape, ``labelstudio``
and ``labelme`` read and write the tools' files, ``cornell_out`` writes the Cornell layout
that ``datasets.cornell`` reads, and ``suggest`` runs the detector over images or a bag.
"""

from .rectangles import LabelError

__all__ = ["LabelError"]
