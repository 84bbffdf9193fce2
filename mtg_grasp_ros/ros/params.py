"""The node's ParameterDescriptors, built from the one parameter table (``settings.PARAMS``)."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from ..settings import PARAMS, Param


def descriptor(p: Param) -> ParameterDescriptor:
    """Description, range (integer or floating point) and read-only flag of one parameter."""
    text = p.description + (f" One of {', '.join(p.choices)}." if p.choices else "")
    d = ParameterDescriptor(name=p.name, description=text, read_only=p.read_only)
    if p.range is not None and isinstance(p.default, int):
        d.integer_range = [IntegerRange(from_value=int(p.range[0]), to_value=int(p.range[1]),
                                        step=1)]
    elif p.range is not None:
        d.floating_point_range = [FloatingPointRange(from_value=float(p.range[0]),
                                                     to_value=float(p.range[1]), step=0.0)]
    return d


def declarations() -> list[tuple[str, object, ParameterDescriptor]]:
    """(name, default, descriptor) of every parameter, for ``Node.declare_parameters``."""
    return [(p.name, p.default, descriptor(p)) for p in PARAMS]
