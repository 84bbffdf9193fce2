"""MTG-CNN grasp detection for ROS 2: the ROS-free core (here) and its ROS shell (``ros``)."""
