"""ExecuTorch: an XNNPACK-delegated ``.pte`` run by ExecuTorch's runtime through its Python bindings.

The bindings take and return torch tensors, so this runtime needs torch even on a device (a phone app
links the C++ runtime instead; the ``.pte`` file is the same)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.errors import CellFailure
from edgebench.export.artifact import Artifact
from edgebench.models.spec import ModelSpec
from edgebench.runtimes.base import Runtime, Session, SessionOptions


class ExecuTorchSession(Session):
    def __init__(self, method, input_shape) -> None:
        super().__init__(input_shape)
        self.method = method

    timed_span = ("method.execute() of the program built for this batch; torch.from_numpy and copying the output "
                  "out of planned memory in io_latency_ms")
    io_work = True

    def prepare_input(self, batch: np.ndarray) -> list:
        import torch

        return [torch.from_numpy(batch)]

    def run(self, native: list):
        return self.method.execute(native)

    def finish(self, raw) -> np.ndarray:
        # The output lives in the program's planned memory, which the next call reuses: copy it out.
        return raw[0].numpy().copy()


class ExecuTorchRuntime(Runtime):
    name = "executorch"
    package = "executorch"
    install_hint = "pip install 'edgebench[executorch]'"
    formats = ("pte",)
    converts_torch = True
    precisions = ("fp32", "int8")
    recipes = {"fp32": "edgebench.quantize.executorch:EtXnnpack",
               "int8": "edgebench.quantize.executorch:EtXnnpackInt8"}
    slower_reasons = {"int8": "operators the XNNPACK quantiser leaves in FP32 add quantise/dequantise steps "
                              "around them, and they run on ExecuTorch's portable kernels"}
    description = "ExecuTorch runtime with the XNNPACK delegate"

    def load(self, artifact: Artifact, spec: ModelSpec, options: SessionOptions) -> Session:
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as EtRuntime

        # XNNPACK's work runs on ExecuTorch's shared thread pool; size it to the run's budget.
        portable_lib._unsafe_reset_threadpool(options.threads)
        name = artifact.meta.get("batch_files", {}).get(str(options.batch_size))
        if name is None:
            raise CellFailure(f"the artifact holds programs for batches {', '.join(artifact.meta.get('batch_files', {}))}, "
                              f"not {options.batch_size}; build it with --batch-size {options.batch_size}")
        path = str(Path(artifact.path).parent / name)
        method = EtRuntime.get().load_program(path).load_method("forward")
        session = ExecuTorchSession(method, spec.input_shape)
        reported = int(portable_lib._threadpool_get_thread_count())
        session.config = {"threads": reported, "delegate": "XNNPACK", "program": name,
                          "artifact_precision": artifact.precision}
        session.describe(threads_by="portable_lib._threadpool_get_thread_count()", reported=reported, static=True,
                         shape=f"static [{options.batch_size}, {', '.join(map(str, spec.input_shape))}] "
                               f"(one program exported per batch: {name})")
        return session
