"""Bags without ROS: reading any rosbag (``reader``), writing rosbag2 (``writer``), a bag's
transform tree (``transforms``) and the sample camera bags (``sample``).

Nothing here imports rclpy; turning bag messages into rclpy messages is ``ros.bag_messages``.
The reader's and writer's names are re-exported here (``from mtg_grasp_ros.bags import
open_bag``).
"""

from .reader import (
           CAMERA_INFO,
           COMPRESSED_IMAGE,
           IMAGE,
           IMAGE_TYPES,
           TF,
           TF_MESSAGE,
           TF_STATIC,
           BagError,
           BagLayout,
           Ros2View,
           StampIndex,
           StaticTransforms,
           camera_info_for,
           duration_s,
           find_layout,
           is_latched,
           iter_messages,
           open_bag,
           ros2_typestore,
           stamp_ns,
           topic_name,
)
from .writer import BAG_VERSION, STORAGES, BagWriter, qos_profile

__all__ = ["BAG_VERSION", "CAMERA_INFO", "COMPRESSED_IMAGE", "IMAGE", "IMAGE_TYPES", "STORAGES",
           "TF", "TF_MESSAGE", "TF_STATIC", "BagError", "BagLayout", "BagWriter", "Ros2View",
           "StampIndex", "StaticTransforms", "camera_info_for", "duration_s", "find_layout",
           "is_latched",
           "iter_messages", "open_bag", "qos_profile", "ros2_typestore", "stamp_ns",
           "topic_name"]
