"""The node's process asks Fast DDS for UDP only, unless FASTDDS_BUILTIN_TRANSPORTS is set."""

from __future__ import annotations

import os

from mtg_grasp_ros.ros import transport


def test_udp_is_chosen_when_nothing_is_set(monkeypatch):
    monkeypatch.setenv(transport.VARIABLE, "restored after the test")
    monkeypatch.delenv(transport.VARIABLE)      # recorded, so the test's own value goes too
    assert transport.prefer_udp_transport() is True
    assert os.environ[transport.VARIABLE] == "UDPv4"


def test_a_users_choice_is_left_alone(monkeypatch):
    monkeypatch.setenv(transport.VARIABLE, "DEFAULT")
    assert transport.prefer_udp_transport() is False
    assert os.environ[transport.VARIABLE] == "DEFAULT"
