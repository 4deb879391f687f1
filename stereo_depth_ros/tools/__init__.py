"""Console tools: the demo, the benchmark (``benchmark_*``) and the rosbag2 tools (``stereo_bag_*``).

Each bag tool is a thin ``main(argv) -> exit code`` over library functions that
tests and other tools call directly:

* ``bag_from_dataset``: stereo images (Middlebury Motorcycle, synthetic scenes,
  or files with a calibration from ``calibration_io``) -> a bag of raw images,
  CameraInfo and ground truth;
* ``bag_play``: publish a bag over DDS with its original timing;
* ``bag_record``: record topics from DDS into a bag;
* ``bag_process``: run the node's pipeline offline over a bag -> an output bag
  (and PNG previews, ``previews``);
* ``bag_evaluate``: bad-N, EPE and density of a bag's disparity against ground truth;
* ``demo``: all of the above on bundled data, with a summary table;
* ``adapt`` (a package): ``stereo_depth_adapt``, a bag's frames read as the node
  would (``adapt.bag_frames``) driving the training library's self-supervised
  adaptation (``training.adaptation``; the one tool that imports training, and
  only once it knows the training extra is installed).

Exit codes are listed in ``tools.errors``.
"""
