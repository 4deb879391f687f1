"""Measurement, not a test: OpenCV matchers on Middlebury Motorcycle (scikit-image).

Run: ``python test/backends/measure_sgbm_motorcycle.py`` from the repository root.
Prints bad-1/2/3 (missing predictions count as errors), the same over kept
pixels, EPE and density, before and after the left-right check (nearest
sampling, 1 px), and the matching time of one view.
"""

from __future__ import annotations

import time

from skimage import data

from stereo_depth_ros.backends import BmBackend, BmParams, SgbmBackend, SgbmParams
from stereo_depth_ros.backends.base import StereoBackend
from stereo_depth_ros.core.consistency import left_right_check
from stereo_depth_ros.core.metrics import StereoMetrics, evaluate_disparity


def _row(label: str, metrics: StereoMetrics) -> str:
    return (f"| {label} | {metrics.bad(1):.1f} | {metrics.bad(2):.1f} | {metrics.bad(3):.1f} | "
            f"{metrics.bad(1, kept=True):.1f} | {metrics.bad(2, kept=True):.1f} | "
            f"{metrics.bad(3, kept=True):.1f} | {metrics.epe_px:.2f} | "
            f"{metrics.density_percent:.1f} |")


def main() -> None:
    left, right, gt = data.stereo_motorcycle()  # 500x741, gt inf = unknown, 7..60 px
    backends: list[tuple[str, StereoBackend]] = [
        ("SGBM 3-way, 128 disp, bs 5, no border pad",
         SgbmBackend(SgbmParams(pad_left_border=False))),
        ("SGBM 3-way, 128 disp, bs 5 (defaults)", SgbmBackend(SgbmParams())),
        ("SGBM 3-way, 64 disp, bs 5, no border pad",
         SgbmBackend(SgbmParams(num_disparities=64, pad_left_border=False))),
        ("SGBM 3-way, 64 disp, bs 5", SgbmBackend(SgbmParams(num_disparities=64))),
        ("SGBM 5-dir (mode sgbm), 64 disp, bs 5",
         SgbmBackend(SgbmParams(num_disparities=64, mode="sgbm"))),
        ("BM, 64 disp, bs 15", BmBackend(BmParams(num_disparities=64))),
    ]
    print("| matcher | bad-1 | bad-2 | bad-3 | bad-1 kept | bad-2 kept | bad-3 kept "
          "| EPE px | density % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, backend in backends:
        start = time.perf_counter()
        result_left = backend.match(left, right)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        result_right = backend.match_right(left, right)
        start = time.perf_counter()
        checked = left_right_check(result_left.disparity_px, result_right.disparity_px,
                                   max_diff_px=1.0)
        check_ms = (time.perf_counter() - start) * 1e3
        print(_row(f"{label}, raw ({elapsed_ms:.0f} ms)",
                   evaluate_disparity(result_left.disparity_px, gt)))
        print(_row(f"{label}, LR check 1 px ({check_ms:.1f} ms)",
                   evaluate_disparity(checked.disparity_px, gt)))


if __name__ == "__main__":
    main()
