"""How long a cell should take, before anything is measured: the weight of each cell in the sweep's time estimate.

The progress display turns these weights into time left by the rate at which they are done on this machine, so
only their proportions matter. A call's cost is taken as the model's parameters times its input pixels times the
batch (within 15% of the measured ONNX Runtime p50 ratios between MobileNetV2, ResNetV2-50, Inception-v3 and
EfficientNet-B7 on the development machine); a group of lockstep rounds lasts until its cap for fast calls, and
its floor of calls for slow ones (at a tenth of the seed table's 62-minute run this said 70 minutes in all); an INT8 cell carries its quantisation, which runs the model once per calibration
image and about three times that again in the quantiser's own passes (ONNX Runtime's and NNCF's quantisation of
the reference table's models took 190-1280 single-image calls for 64 images on the development machine).
"""
from __future__ import annotations

from edgebench.harness.timing import TimingProfile, floor_calls
from edgebench.pipeline.plan import Cell, skip_reason

# Seconds per image, per million parameters, at 224 x 224 pixels: MobileNetV2 at batch 32 took 145 ms on ONNX
# Runtime with 2 threads on the development machine. Only the proportions matter: the rate corrects the scale.
CALL_S_PER_UNIT = 0.0013
UNKNOWN_PARAMS_M = 5.0  # a model without a published parameter count
PYTORCH_FACTOR = 2.0  # eager PyTorch took 2-8x ONNX Runtime's time per call on the reference table's models
LOAD_S = 2.0  # starting a worker and loading the artifact
SKIPPED_S = 0.05
QUANTIZE_CALLS_PER_IMAGE = 4.0  # single-image calls a quantiser's time is worth, per calibration image


def call_s(cell: Cell, batch: int | None = None) -> float:
    """The expected seconds of one call of ``cell`` (at ``batch``, default the cell's)."""
    params = (cell.model.reference or {}).get("params_m") or UNKNOWN_PARAMS_M
    channels, height, width = cell.model.input_shape
    factor = PYTORCH_FACTOR if cell.runtime.startswith("pytorch") else 1.0
    return CALL_S_PER_UNIT * float(params) * height * width / (224 * 224) * (batch or cell.batch_size) * factor


def cell_seconds(cell: Cell, profile: TimingProfile, calib_images: int = 0) -> float:
    """Expected wall seconds of a cell: load, warm-up, its share of the group's timed rounds, and its calibration."""
    if skip_reason(cell):
        return SKIPPED_S
    call = call_s(cell)
    warmup = max(call, min(profile.warmup_max_s, max(profile.warmup_s, profile.warmup_iters * call)))
    # Fast calls: the group runs to its cap (125 of the 139 cells of the seed table on the development machine; a
    # p50 and every ratio known to ±1% before it is rare on a shared machine); slow ones to their floor of calls.
    timed = max(floor_calls(profile, call) * call, profile.max_s)
    calibration = (QUANTIZE_CALLS_PER_IMAGE * calib_images * call_s(cell, batch=1)
                   if cell.precision.startswith("int8") else 0.0)
    return LOAD_S + warmup + timed + calibration
