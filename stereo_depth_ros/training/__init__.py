"""Training: the network, its data, losses, training loops and ONNX export (the ``training`` extra).

PyTorch lives here and nowhere else; the runtime (core, backends, pipeline,
ros) and the tools never import this package, except ``tools.adapt``, which
drives ``adaptation`` (``.importlinter`` enforces both). Everything here takes
arrays and plain data, never ROS messages:

* ``model``: StereoNet and its export wrapper;
* ``dataset``, ``losses``, ``train``: supervised training on synthetic scenes;
* ``self_supervised``, ``adaptation``: self-supervised adaptation to frames of a user's camera;
* ``export``: ONNX files that follow the backend contract, and the model card;
* ``entry_points``: the console scripts, which name the extra to install when it is missing;
* ``errors``: this package's errors.
"""
