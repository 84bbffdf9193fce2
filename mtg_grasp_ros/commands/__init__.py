"""Subcommands of the ``mtg_grasp`` command line (see ``mtg_grasp_ros.cli``)."""
