"""Fast DDS's transports for the node's process: UDP only, unless the user chose.

Fast DDS (the default RMW) hands large messages between processes on one machine through
shared memory. Its receive path keeps about 180 bytes of C heap for each such message for
good: a bare rclpy subscription to a 30 Hz 640x480 camera in another process held 330 KiB
more after each minute, and 5 KiB in all over three minutes with ``UDPv4`` (README "Soak";
the same staircase is reported in ros2/rosbag2#2366). The node therefore asks Fast DDS for
its UDP transport only, before rclpy creates the participant; a camera driver with the
default transports then talks to it over loopback UDP. ``FASTDDS_BUILTIN_TRANSPORTS=DEFAULT``
keeps shared memory; other RMWs ignore the variable.
"""

from __future__ import annotations

import os

#: The environment variable Fast DDS (2.13 and later) reads its builtin transports from.
VARIABLE = "FASTDDS_BUILTIN_TRANSPORTS"
#: The node's choice.
NODE_TRANSPORTS = "UDPv4"


def prefer_udp_transport() -> bool:
    """Set :data:`VARIABLE` to ``UDPv4`` unless it is set; whether this call set it."""
    if VARIABLE in os.environ:
        return False
    os.environ[VARIABLE] = NODE_TRANSPORTS
    return True
