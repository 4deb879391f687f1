"""What the network backends share: resizing, the one pass and the two match calls.

A network backend (ONNX Runtime, native TensorRT) only says how to run one
prepared batch (:meth:`NetworkBackend._execute`); this class turns rectified
images into that batch, decodes the outputs back to input pixels and offers
``match`` and ``match_checked`` on top. Both run the network once: the right
view's disparity comes out of the same pass (the contract's
``disparity_right``, computed only when ``match_checked`` asks for it), so the
left-right check costs a fraction of a network run, not a second one.
"""

from __future__ import annotations

import numpy as np

from stereo_depth_ros.backends.base import CheckedMatch, MatchResult, SparseHints
from stereo_depth_ros.backends.contract import ModelMetadata
from stereo_depth_ros.backends.errors import InputError
from stereo_depth_ros.backends.preprocessing import (
    NetworkBatch,
    compute_fit,
    decode_checked_outputs,
    decode_network_outputs,
    prepare_network_batch,
)

__all__ = ["NetworkBackend"]


class NetworkBackend:
    """Base of the stereo network backends (implements most of ``StereoBackend``).

    Subclasses set ``metadata``, ``max_disparity_px`` (px at the model input) and
    ``_min_input_hw``, and implement :meth:`_execute`. ``_right_view_always``: a
    runtime that cannot take an empty ``right_view`` (TensorRT) asks for the
    right view on every run and :meth:`match` ignores it.
    """

    metadata: ModelMetadata
    max_disparity_px: float
    accepts_hints: bool = True
    _min_input_hw: tuple[int, int]
    _right_view_always: bool = False

    @property
    def model_hw(self) -> tuple[int, int]:
        """(Hm, Wm) of the network input, px."""
        return self.metadata.input_hw

    def max_disparity_px_for(self, input_hw: tuple[int, int]) -> float:
        """Largest disparity the model can report for an (H, W) input, input px."""
        return self.max_disparity_px * compute_fit(input_hw, self.model_hw).disparity_scale

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity of a rectified pair (one pass).

        Args:
            left: (H, W) uint8 grey or (H, W, 3) uint8 RGB, left rectified image.
            right: same shape and dtype, right rectified image.
            hints: sparse left-frame disparities, (H, W) float32 px, NaN = no hint.

        Returns:
            (H, W) float32 disparity in input px (NaN = invalid) and confidence.

        Raises:
            InputError: bad images or hints.
            BackendError: the runtime failed during the run.
        """
        batch = self._batch(left, right, hints, with_right_view=self._right_view_always)
        disparity, confidence, _ = self._execute(batch)
        return decode_network_outputs(disparity, confidence, batch)

    def match_checked(self, left: np.ndarray, right: np.ndarray, *, hints: SparseHints | None = None,
                      max_diff_px: float) -> CheckedMatch:
        """Left-view disparity after the left-right check, from the same single pass.

        The check compares the left map with the network's right-view map at
        model resolution (:func:`~stereo_depth_ros.backends.preprocessing.decode_checked_outputs`),
        so the hints guide both views and no second run is needed.

        Args:
            left, right, hints: as for :meth:`match`.
            max_diff_px: largest |d_left - d_right| kept, px of the input images, > 0.

        Raises:
            InputError: bad images, hints or tolerance.
            BackendError: the runtime failed during the run.
        """
        if not max_diff_px > 0:
            raise InputError(f"max_diff_px must be > 0 px, got {max_diff_px}")
        batch = self._batch(left, right, hints, with_right_view=True)
        result, rejected = decode_checked_outputs(*self._execute(batch), batch, max_diff_px=max_diff_px)
        return CheckedMatch(result=result, rejected_fraction=rejected)

    def _batch(self, left: np.ndarray, right: np.ndarray, hints: SparseHints | None, *,
               with_right_view: bool) -> NetworkBatch:
        return prepare_network_batch(left, right, model_hw=self.model_hw, hints=hints,
                                     with_right_view=with_right_view, min_hw=self._min_input_hw)

    def _execute(self, batch: NetworkBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network on ``batch.feeds``: (1, 1, Hm, Wm) disparity and confidence, and
        disparity_right (R, 1, Hm, Wm) with R the length of the ``right_view`` feed.

        Raises:
            BackendError: the runtime failed.
        """
        raise NotImplementedError
