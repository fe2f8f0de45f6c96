"""edgebench: export, compile and benchmark vision models on the runtimes a deployer considers.

Importing this package stays light: torch, onnxruntime and openvino are imported only inside the step
that needs them.
"""
__version__ = "0.1.0"
