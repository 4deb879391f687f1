"""What the network backends share: passes, resizing and the three match calls.

A network backend (ONNX Runtime, native TensorRT) only says how to run one
prepared batch (:meth:`NetworkBackend._execute`); this class turns rectified
images into that batch, decodes the outputs back to input pixels and offers
``match``, ``match_right`` and ``match_both`` on top.
"""

from __future__ import annotations

import numpy as np

from stereo_depth_ros.backends.base import MatchResult, SparseHints
from stereo_depth_ros.backends.contract import ModelMetadata
from stereo_depth_ros.backends.preprocessing import (
    NetworkBatch,
    Pass,
    compute_fit,
    decode_network_outputs,
    prepare_network_batch,
)

__all__ = ["NetworkBackend"]


class NetworkBackend:
    """Base of the stereo network backends (implements most of ``StereoBackend``).

    Subclasses set ``metadata``, ``max_disparity_px`` (px at the model input),
    ``_min_input_hw`` and ``_max_batch``, and implement :meth:`_execute`.
    """

    metadata: ModelMetadata
    max_disparity_px: float
    _min_input_hw: tuple[int, int]
    _max_batch: int = 2

    @property
    def model_hw(self) -> tuple[int, int]:
        """(Hm, Wm) of the network input, px."""
        return self.metadata.input_hw

    def max_disparity_px_for(self, input_hw: tuple[int, int]) -> float:
        """Largest disparity the model can report for an (H, W) input, input px."""
        return self.max_disparity_px * compute_fit(input_hw, self.model_hw).disparity_scale

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity of a rectified pair (one pass, N = 1).

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
        return self._run(left, right, passes=("left",), hints=hints)[0]

    def match_right(self, left: np.ndarray, right: np.ndarray) -> MatchResult:
        """Right-view disparity (d = x_left - x_right >= 0, in the right frame).

        Runs the network on (fliplr(right), fliplr(left)) and mirrors the
        output back: mirroring makes the right view a left view.
        """
        return self._run(left, right, passes=("right",), hints=None)[0]

    def match_both(self, left: np.ndarray, right: np.ndarray, *,
                   hints: SparseHints | None = None) -> tuple[MatchResult, MatchResult]:
        """Left- and right-view disparity in one run with N = 2.

        Entry 0 is the normal pass (with hints), entry 1 the mirrored pass on
        (fliplr(right), fliplr(left)) with the hints moved into the right view,
        mirrored back. The pair is resized once for both. Cost: the network does
        twice the work of :meth:`match` (about 2x on CPU, usually less on a GPU
        that one image does not saturate) and needs twice the activation memory;
        it saves a second call's launch overhead and preprocessing compared with
        :meth:`match` followed by :meth:`match_right` (measured on 2 CPU cores
        with ONNX Runtime and the 640x480 model on a 741x500 pair: 448 ms against
        496 ms for the two separate calls). Falls back to two calls where the
        runtime takes one image at a time (``_max_batch`` 1).

        Returns:
            (left_result, right_result), maps (H, W) at input size.
        """
        if self._max_batch < 2:
            return self.match(left, right, hints=hints), self.match_right(left, right)
        left_result, right_result = self._run(left, right, passes=("left", "right"), hints=hints)
        return left_result, right_result

    def _run(self, left: np.ndarray, right: np.ndarray, *, passes: tuple[Pass, ...],
             hints: SparseHints | None) -> tuple[MatchResult, ...]:
        batch = prepare_network_batch(left, right, model_hw=self.model_hw, passes=passes,
                                      hints=hints, min_hw=self._min_input_hw)
        disparity, confidence = self._execute(batch)
        return decode_network_outputs(disparity, confidence, batch)

    def _execute(self, batch: NetworkBatch) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on ``batch.feeds``; (N, 1, Hm, Wm) disparity and confidence.

        Raises:
            BackendError: the runtime failed.
        """
        raise NotImplementedError
