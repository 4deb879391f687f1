"""OnnxBackend on tiny generated graphs in real ONNX Runtime (CPU EP)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stereo_depth_ros.backends.base import SparseHints
from stereo_depth_ros.backends.errors import BackendUnavailableError, InputError, ModelError
from stereo_depth_ros.backends.onnx_backend import (
    CPU_EP,
    CUDA_EP,
    INTRA_OP_SPINNING_KEY,
    TENSORRT_EP,
    OnnxBackend,
    select_providers,
)

ModelFactory = Callable[..., Path]
INPUT_HW = (100, 130)  # vs model (64, 96): s = 0.64, resized (64, 83), padded right


def _rgb_pair(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
            rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --- provider selection (pure) ---------------------------------------------------------

def test_select_providers_prefers_tensorrt_then_cuda_then_cpu() -> None:
    everything = [CPU_EP, CUDA_EP, TENSORRT_EP, "AzureExecutionProvider"]
    assert select_providers(None, everything).providers == (TENSORRT_EP, CUDA_EP, CPU_EP)
    assert select_providers("auto", [CPU_EP, CUDA_EP]).providers == (CUDA_EP, CPU_EP)
    assert select_providers(None, [CPU_EP]).providers == (CPU_EP,)


def test_select_providers_honours_an_explicit_order_and_aliases() -> None:
    plan = select_providers(["cuda", "tensorrt"], [TENSORRT_EP, CUDA_EP, CPU_EP])
    assert plan.providers == (CUDA_EP, TENSORRT_EP, CPU_EP)
    assert plan.requested == (CUDA_EP, TENSORRT_EP)
    assert select_providers("cpu", [CPU_EP]).providers == (CPU_EP,)


def test_select_providers_raises_for_an_unavailable_request_saying_what_is_missing() -> None:
    with pytest.raises(BackendUnavailableError) as info:
        select_providers(["tensorrt"], [CPU_EP])
    message = str(info.value)
    assert TENSORRT_EP in message and "libnvinfer" in message
    assert "providers='auto'" in message and "sgbm" in message


def test_select_providers_drops_unavailable_ones_when_fallback_is_allowed() -> None:
    plan = select_providers(["tensorrt", "cuda"], [CUDA_EP, CPU_EP], allow_fallback=True)
    assert plan.providers == (CUDA_EP, CPU_EP)
    assert plan.dropped == (TENSORRT_EP,)
    assert "dropped" in plan.reason


# --- sessions on this machine (CPU build of onnxruntime) -------------------------------

def test_backend_runs_on_cpu_and_describes_the_choice(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(), intra_op_threads=1)
    facts = backend.describe()
    assert facts["backend"] == "onnx"
    assert facts["provider"] == CPU_EP
    assert facts["fallback"] == "none"
    assert facts["model_input"] == "96x64"
    assert facts["model_version"] == "test-constant"
    assert backend.max_disparity_px == 48.0
    assert backend.max_disparity_px_for(INPUT_HW) == pytest.approx(48.0 * 130 / 83)


def test_the_session_lets_its_threads_sleep_instead_of_spinning(stereo_model: ModelFactory) -> None:
    """Spinning ONNX Runtime threads would take the cores from the OpenCV stages around the network."""
    backend = OnnxBackend(stereo_model(), intra_op_threads=2)
    options = backend._session.get_session_options()
    assert options.get_session_config_entry(INTRA_OP_SPINNING_KEY) == "0"
    assert options.intra_op_num_threads == 2


@pytest.mark.skipif(CUDA_EP in ort.get_available_providers(), reason="CUDA EP is available")
def test_explicit_unavailable_provider_fails_loudly(stereo_model: ModelFactory) -> None:
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        OnnxBackend(stereo_model(), providers=["cuda"])


@pytest.mark.skipif(CUDA_EP in ort.get_available_providers(), reason="CUDA EP is available")
def test_explicit_unavailable_provider_falls_back_when_allowed(
        stereo_model: ModelFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        backend = OnnxBackend(stereo_model(), providers=["cuda"], allow_provider_fallback=True,
                              intra_op_threads=1)
    assert backend.describe()["provider"] == CPU_EP
    assert CUDA_EP in backend.describe()["fallback"]
    assert any(CUDA_EP in record.getMessage() for record in caplog.records)


@pytest.mark.skipif(TENSORRT_EP in ort.get_available_providers(), reason="TensorRT EP present")
@pytest.mark.filterwarnings("ignore:Specified provider")
def test_provider_lost_at_session_creation_is_detected(
        stereo_model: ModelFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A provider listed as available but not started by ONNX Runtime is caught."""
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: [TENSORRT_EP, CUDA_EP, CPU_EP])
    model = stereo_model()
    auto = OnnxBackend(model, trt_cache_dir=tmp_path / "trt", intra_op_threads=1)
    assert auto.plan.providers == (TENSORRT_EP, CUDA_EP, CPU_EP)
    assert auto.session_providers == (CPU_EP,)
    assert "dropped" in auto.describe()["fallback"]
    with pytest.raises(BackendUnavailableError, match="could not start"):
        OnnxBackend(model, providers=["tensorrt"], trt_cache_dir=tmp_path / "trt")


# --- the fit rule through a real session -----------------------------------------------

def test_constant_model_disparity_is_rescaled_to_input_pixels(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(kind="constant", value=4.0), intra_op_threads=1)
    left, right = _rgb_pair(*INPUT_HW)
    result = backend.match(left, right)
    assert result.disparity_px.shape == INPUT_HW
    assert result.disparity_px.dtype == np.float32
    np.testing.assert_allclose(result.disparity_px, 4.0 * 130 / 83, rtol=1e-6)
    np.testing.assert_allclose(result.confidence, 0.5)


def test_grey_input_of_an_image_that_fits_is_only_padded(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(kind="red"), intra_op_threads=1)
    rng = np.random.default_rng(5)
    left = rng.integers(0, 256, (40, 70), dtype=np.uint8)
    right = rng.integers(0, 256, (40, 70), dtype=np.uint8)
    result = backend.match(left, right)
    np.testing.assert_allclose(result.disparity_px, left.astype(np.float32), atol=1e-3)
    np.testing.assert_allclose(result.confidence, right / 255.0, atol=1e-6)


def test_padding_and_resizing_round_trip_a_smooth_disparity(stereo_model: ModelFactory) -> None:
    """The 'red' model outputs 255 * red(left): a known map survives the fit and its inverse."""
    backend = OnnxBackend(stereo_model(kind="red"), intra_op_threads=1)
    height, width = INPUT_HW
    red = np.tile(np.linspace(20, 220, width), (height, 1))
    left = np.dstack([red, np.zeros_like(red), np.zeros_like(red)]).round().astype(np.uint8)
    result = backend.match(left, left.copy())
    # model px -> input px multiplies by W / resized_w = 130 / 83; the resized image
    # is uint8, so values are within one grey level (x 1.57) of the ideal map
    expected = left[..., 0] * (130 / 83)
    np.testing.assert_allclose(result.disparity_px[:, 2:-2], expected[:, 2:-2], atol=1.6)
    assert np.abs(result.disparity_px - expected).mean() < 0.5


def test_hints_reach_the_network_scaled_and_sparse(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(kind="hint"), intra_op_threads=1)
    left, right = _rgb_pair(40, 70)  # fits: no resize, so hints map 1:1
    hints = np.full((40, 70), np.nan, dtype=np.float32)
    hints[5, 9], hints[30, 60] = 12.0, 33.5
    result = backend.match(left, right, hints=SparseHints(hints))
    assert result.disparity_px[5, 9] == 12.0 and result.disparity_px[30, 60] == 33.5
    assert result.confidence[5, 9] == 1.0 and result.confidence.sum() == 2.0


# --- both views from one pass: the left-right check -----------------------------------

def test_one_session_run_per_match_asks_for_the_right_view_only_for_the_check(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(), intra_op_threads=1)
    calls: list[tuple[int, int, list[str]]] = []
    session = backend._session

    class CountingSession:
        def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            outputs = session.run(names, feeds)
            calls.append((feeds["left"].shape[0], feeds["right_view"].shape[0], [o.shape[0] for o in outputs]))
            return outputs

    backend._session = CountingSession()  # type: ignore[assignment]
    pair = _rgb_pair(*INPUT_HW)
    backend.match_checked(*pair, max_diff_px=1.0)
    backend.match(*pair)
    # (N, R, batch of disparity / confidence / disparity_right): the plain match skips the right view
    assert calls == [(1, 1, [1, 1, 1]), (1, 0, [1, 1, 0])]


def test_match_checked_rejects_where_the_right_view_disagrees(stereo_model: ModelFactory) -> None:
    """Constant views 4 and 5 model px: 1 model px apart = 1.57 input px (130 / 83)."""
    backend = OnnxBackend(stereo_model(kind="constant", value=4.0, right_value=5.0), intra_op_threads=1)
    pair = _rgb_pair(*INPUT_HW)
    strict = backend.match_checked(*pair, max_diff_px=1.5)
    assert np.isnan(strict.result.disparity_px).all() and (strict.result.confidence == 0).all()
    assert strict.rejected_fraction == 1.0
    loose = backend.match_checked(*pair, max_diff_px=1.6)
    assert loose.rejected_fraction == pytest.approx(4 / 83, abs=1e-6)      # the 4 model columns with x - d < 0
    kept = np.isfinite(loose.result.disparity_px)
    assert kept[:, 8:].all() and not kept[:, :5].any()                          # left border: no right pixel
    np.testing.assert_allclose(loose.result.disparity_px[kept], 4.0 * 130 / 83, rtol=1e-6)


def test_hints_guide_the_right_view_of_the_same_pass(stereo_model: ModelFactory) -> None:
    """The 'hint' model returns the left-frame hints as both views: the check sees hints, not zeros."""
    backend = OnnxBackend(stereo_model(kind="hint"), intra_op_threads=1)
    left, right = _rgb_pair(40, 70)
    hints = np.full((40, 70), 3.0, dtype=np.float32)
    checked = backend.match_checked(left, right, hints=SparseHints(hints), max_diff_px=0.5)
    assert np.all(checked.result.disparity_px[:, 3:] == 3.0)


def test_match_checked_recovers_a_slanted_plane_and_keeps_it(stereo_model: ModelFactory,
                                                             make_pair: Callable) -> None:
    """A real winner-take-all matcher graph of both views: consistent pixels survive the check."""
    backend = OnnxBackend(stereo_model(kind="matcher", num_disparities=10), intra_op_threads=1)
    height, width = INPUT_HW
    offset, slope = 4.0, 0.05  # d_R(x_r) = 4 + 0.05 x_r, 4 .. 10.5 input px
    left, right = make_pair(height, width, disparity_right_px=lambda x: offset + slope * x)
    checked = backend.match_checked(left, right, max_diff_px=1.6)
    x = np.arange(width, dtype=np.float32)
    truth_left = offset + slope * (x - offset) / (1 + slope)
    kept = np.isfinite(checked.result.disparity_px)[5:-5, 20:]
    assert kept.mean() > 0.95
    error = np.abs(checked.result.disparity_px - truth_left)[5:-5, 20:][kept]
    assert np.median(error) < 0.5 and np.mean(error < 1.0) > 0.95


# --- model contract and bad inputs -----------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    ({"drop_metadata": ["max_disparity"]}, "max_disparity"),
    ({"metadata": {"max_disparity": "-3"}}, "max_disparity=-3"),
    ({"metadata": {"input_width": "100"}}, "input_width=100"),
    ({"metadata": {"input_height": "32"}}, "'left' has shape"),
    ({"metadata": {"model_version": " "}}, "model_version"),
    ({"batch": 2}, "fixed batch size 2.*N fixed at 1 or dynamic"),
    ({"omit_inputs": ["hint_mask"]}, "missing \\['hint_mask'\\]"),
    ({"omit_outputs": ["disparity_right"]}, "lack \\['disparity_right'\\].*stereo_depth_export"),
])
def test_models_breaking_the_contract_are_rejected_with_the_reason(
        stereo_model: ModelFactory, options: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        OnnxBackend(stereo_model(**options), intra_op_threads=1)


def test_a_model_with_n_fixed_at_1_runs_like_a_dynamic_one(stereo_model: ModelFactory) -> None:
    fixed, dynamic = (OnnxBackend(stereo_model(batch=batch), intra_op_threads=1) for batch in (1, "N"))
    image = np.random.default_rng(3).integers(0, 255, (*fixed.model_hw, 3), dtype=np.uint8)
    np.testing.assert_array_equal(fixed.match(image, image).disparity_px, dynamic.match(image, image).disparity_px)
    checked_fixed, checked_dynamic = (backend.match_checked(image, image, max_diff_px=1.0)
                                      for backend in (fixed, dynamic))
    np.testing.assert_array_equal(checked_fixed.result.disparity_px, checked_dynamic.result.disparity_px)


def test_missing_and_corrupt_model_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        OnnxBackend(tmp_path / "absent.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxBackend(corrupt)


def test_bad_inputs_raise_input_error_with_the_shape(stereo_model: ModelFactory) -> None:
    backend = OnnxBackend(stereo_model(), intra_op_threads=1)
    left, right = _rgb_pair(*INPUT_HW)
    with pytest.raises(InputError, match=r"\(100, 129, 3\)"):
        backend.match(left, right[:, :-1])
    with pytest.raises(InputError, match="uint8"):
        backend.match(left.astype(np.float32), right.astype(np.float32))
    with pytest.raises(InputError, match="minimum"):
        backend.match(left[:16], right[:16])
    with pytest.raises(InputError, match="hints have shape"):
        backend.match(left, right, hints=SparseHints(np.zeros((10, 10), np.float32)))
