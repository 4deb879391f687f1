"""Launch stereo_depth_node, and RViz on request.

    ros2 launch stereo_depth_ros stereo_depth.launch.py namespace:=stereo \\
        left_namespace:=/camera/left right_namespace:=/camera/right use_rviz:=true

Parameters come from ``params_file`` (default: the package's
config/stereo_depth.yaml, generated from the parameter schema); the
``OVERRIDES`` arguments (``backend``, ``model_path``, ``hints``,
``inference_width_px`` and ``inference_height_px`` together, ``input_qos``,
``output_qos_depth``) override it only when given. Every value is checked
before anything starts (``ros.launch_arguments``): a bad one stops the launch
with a message naming the argument. The node's inputs ``left/image_raw``,
``left/camera_info``, ``right/image_raw`` and ``right/camera_info`` are
remapped into ``left_namespace`` and ``right_namespace`` (relative names
resolve inside ``namespace``), and the LiDAR cloud ``hints/points`` (used with
``hints: lidar`` or ``both``) to ``lidar_points``; with ``rectify: false`` in
the parameter file, publish rectified images under ``image_raw`` there or
remap to ``image_rect`` yourself.

When the node exits, for whatever reason, the launch shuts down (RViz with
it). ``use_rviz:=true`` starts RViz only where rviz2 is installed; otherwise
it says so and the node runs alone. The processes started here get
``FASTRTPS_DEFAULT_PROFILES_FILE`` (unless it is set already): the package's
config/fastdds_large_images.xml, without which Fast DDS loses large images
between processes; give the camera driver the same variable.
"""

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from stereo_depth_ros.ros.dds import PROFILE_FILE_NAME, PROFILES_FILE_VARIABLE
from stereo_depth_ros.ros.launch_arguments import (
    DEFAULT_RVIZ_FIXED_FRAME,
    OVERRIDES,
    launch_bool,
    parameter_overrides,
    rviz_executable,
)
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME

PACKAGE = "stereo_depth_ros"


def _launch_setup(context, *args, **kwargs):
    """The node (with the given OVERRIDES), a shutdown when it exits, and RViz if asked for and installed."""
    def text(name):
        return LaunchConfiguration(name).perform(context)

    overrides = parameter_overrides({name: text(name) for name in OVERRIDES})  # raises, naming the argument
    use_sim_time = launch_bool("use_sim_time", text("use_sim_time"))
    use_rviz = launch_bool("use_rviz", text("use_rviz"))
    left, right = LaunchConfiguration("left_namespace"), LaunchConfiguration("right_namespace")
    node = Node(
        package=PACKAGE, executable="stereo_depth_node", name="stereo_depth_node", output="screen",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides, {"use_sim_time": use_sim_time}],
        remappings=[("left/image_raw", [left, "/image_raw"]), ("left/camera_info", [left, "/camera_info"]),
                    ("right/image_raw", [right, "/image_raw"]), ("right/camera_info", [right, "/camera_info"]),
                    ("hints/points", LaunchConfiguration("lidar_points"))],
    )
    actions = [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=[
        EmitEvent(event=Shutdown(reason="stereo_depth_node exited"))]))]
    if use_rviz:
        if rviz_executable() is None:
            actions.append(LogInfo(msg="use_rviz:=true but rviz2 is not installed (apt install ros-jazzy-rviz2): "
                                       "starting stereo_depth_node without RViz"))
        else:
            share = FindPackageShare(PACKAGE)
            actions.append(Node(package="rviz2", executable="rviz2", name="stereo_depth_rviz",
                                namespace=LaunchConfiguration("namespace"),
                                arguments=["-d", PathJoinSubstitution([share, "config", "stereo_depth.rviz"]),
                                           "-f", LaunchConfiguration("rviz_fixed_frame")],
                                parameters=[{"use_sim_time": use_sim_time}]))
    return actions


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    profile = PathJoinSubstitution([share, "config", PROFILE_FILE_NAME])
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
                              description="Start RViz with config/stereo_depth.rviz (where rviz2 is installed)"),
        DeclareLaunchArgument("rviz_fixed_frame", default_value=DEFAULT_RVIZ_FIXED_FRAME,
                              description="RViz fixed frame: the frame_id of the left CameraInfo"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag playback)"),
        SetEnvironmentVariable(PROFILES_FILE_VARIABLE, EnvironmentVariable(PROFILES_FILE_VARIABLE,
                                                                           default_value=profile)),
        OpaqueFunction(function=_launch_setup),
    ])
