"""Writing rosbag2 files that Humble, Jazzy and Kilted can all play, without ROS.

Storage version 8 (version 9 stores QoS profiles in a form Humble's player cannot read), and
an offered QoS profile per topic in the metadata: transient-local for latched topics such as
``/tf_static``, or a replayed static transform never reaches a late joiner.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer

from .reader import ros2_typestore

STORAGES: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3,
                                      "mcap": StoragePlugin.MCAP}
#: rosbag2 storage version that Humble's player reads.
BAG_VERSION: Final[Literal[8]] = 8
_UNSET = QosTime(0, 0)   # "default" deadline/lifespan/lease: what rclcpp records for them


def qos_profile(latched: bool = False, depth: int = 10) -> Qos:
    """A reliable keep-last profile; ``latched`` makes it transient-local (like /tf_static)."""
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE,
               QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
               _UNSET, _UNSET, QosLiveliness.AUTOMATIC, _UNSET, False)


class BagWriter:
    """A rosbag2 (version 8) being written: declare topics, then write CDR bytes to them."""

    def __init__(self, path: str | Path, storage: str = "sqlite3") -> None:
        if storage not in STORAGES:
            raise ValueError(f"unknown storage {storage!r}; expected one of {sorted(STORAGES)}")
        self.path = Path(path)
        self.typestore = ros2_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._topics: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()

    def topic(self, name: str, msgtype: str, latched: bool = False, depth: int = 10) -> None:
        """Declare a topic once, with its offered QoS profile."""
        if name not in self._topics:
            self._topics[name] = self._writer.add_connection(
                name, msgtype, typestore=self.typestore,
                offered_qos_profiles=[qos_profile(latched, depth)])

    def write(self, name: str, log_time_ns: int, cdr: bytes) -> None:
        """Write already serialised (CDR) bytes to a declared topic."""
        self._writer.write(self._topics[name], int(log_time_ns), cdr)

    def write_canonical(self, name: str, log_time_ns: int, cdr: bytes) -> None:
        """Write CDR bytes re-encoded with zeroed alignment padding.

        ``rclpy.serialization.serialize_message`` leaves the padding bytes of CDR
        uninitialised, so the same message serialises to different bytes from run to run;
        a decode and encode with the rosbags typestore makes the payload a function of the
        message alone (which regression tests of recorded results compare byte for byte).
        """
        msgtype = self._topics[name].msgtype
        msg = self.typestore.deserialize_cdr(cdr, msgtype)
        self.write(name, log_time_ns, self.typestore.serialize_cdr(msg, msgtype))

    def write_msg(self, name: str, log_time_ns: int, msg: Any) -> None:
        """Serialise a rosbags message object and write it to a declared topic."""
        conn = self._topics[name]
        self.write(name, log_time_ns, self.typestore.serialize_cdr(msg, conn.msgtype))
