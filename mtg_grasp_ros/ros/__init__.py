"""The ROS 2 shell: the node (``node``, ``params``, ``camera_pose``, ``frame_slot``, ``stats``),
message conversion (``messages``, ``frame_input``, ``bag_messages``), live and offline replay,
the demo and the bench.

Everything here except ``frame_slot`` imports rclpy; the core never does.
"""
