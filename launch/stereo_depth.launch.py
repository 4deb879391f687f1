"""Launch stereo_depth_node, and RViz on request.

    ros2 launch stereo_depth_ros stereo_depth.launch.py namespace:=stereo \\
        left_namespace:=/camera/left right_namespace:=/camera/right use_rviz:=true

Parameters come from ``params_file`` (default: the package's
config/stereo_depth.yaml, generated from the parameter schema);
``backend``, ``model_path``, ``hints``, ``inference_width_px`` and
``inference_height_px`` override it only when given. The node's inputs
``left/image_raw``, ``left/camera_info``, ``right/image_raw`` and
``right/camera_info`` are remapped into ``left_namespace`` and
``right_namespace`` (relative names resolve inside ``namespace``), and the
LiDAR cloud ``hints/points`` (used with ``hints: lidar`` or ``both``) to
``lidar_points``; with
``rectify: false`` in the parameter file, publish rectified images under
``image_raw`` there or remap to ``image_rect`` yourself. Fast DDS needs
FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for large images on best-effort topics;
it is set here for the processes this file starts (the camera driver needs it
too).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME

PACKAGE = "stereo_depth_ros"
#: Node parameters that a launch argument of the same name overrides when it is not empty.
OVERRIDES = ("backend", "model_path", "hints", "inference_width_px", "inference_height_px")
_FROM_TEXT = {"string": str, "integer": int}


def _stereo_depth_node(context, *args, **kwargs):
    """The node, with the OVERRIDES only where their arguments are not empty."""
    given = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDES}
    overrides = {name: _FROM_TEXT[PARAMETERS_BY_NAME[name].type](value) for name, value in given.items() if value}
    left, right = LaunchConfiguration("left_namespace"), LaunchConfiguration("right_namespace")
    return [Node(
        package=PACKAGE, executable="stereo_depth_node", name="stereo_depth_node", output="screen",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides,
                    {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
        remappings=[("left/image_raw", [left, "/image_raw"]), ("left/camera_info", [left, "/camera_info"]),
                    ("right/image_raw", [right, "/image_raw"]), ("right/camera_info", [right, "/camera_info"]),
                    ("hints/points", LaunchConfiguration("lidar_points"))],
    )]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("left_namespace", default_value="left",
                              description="Where the left image_raw and camera_info are (relative to namespace)"),
        DeclareLaunchArgument("right_namespace", default_value="right",
                              description="Where the right image_raw and camera_info are (relative to namespace)"),
        DeclareLaunchArgument("lidar_points", default_value="hints/points",
                              description="PointCloud2 of a LiDAR, remapped to the node's hints/points (relative "
                              "names resolve inside namespace); used while the hints parameter is lidar or both"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "stereo_depth.yaml"]),
                              description="Parameter file of the node"),
        *(DeclareLaunchArgument(name, default_value="", description="Overrides params_file when set: "
                                + PARAMETERS_BY_NAME[name].summary()) for name in OVERRIDES),
        DeclareLaunchArgument("use_rviz", default_value="false",
                              description="Start RViz with config/stereo_depth.rviz"),
        DeclareLaunchArgument("rviz_fixed_frame", default_value="left_camera_optical_frame",
                              description="RViz fixed frame: the frame_id of the left CameraInfo"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag playback)"),
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA"),
        OpaqueFunction(function=_stereo_depth_node),
        Node(package="rviz2", executable="rviz2", name="stereo_depth_rviz", namespace=LaunchConfiguration("namespace"),
             arguments=["-d", PathJoinSubstitution([share, "config", "stereo_depth.rviz"]),
                        "-f", LaunchConfiguration("rviz_fixed_frame")],
             parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
             condition=IfCondition(LaunchConfiguration("use_rviz"))),
    ])
