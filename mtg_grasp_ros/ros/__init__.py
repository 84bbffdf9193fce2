"""The ROS 2 shell: message conversion (``messages``) shared by the node and the bag replay.

Everything under this package imports rclpy message classes; the core never does.
"""
