"""Synthetic grasp data in the Jacquard format, rendered and simulated with pybullet.

Modules: :mod:`.camera` (intrinsics, optical-frame pose, pybullet matrices, depth),
:mod:`.scene` (objects, table, settle, domain randomisation), :mod:`.render`
(``render_view`` -> ``RenderedView``: the API for other tools), :mod:`.labeller` (analytic
antipodal labels), :mod:`.verify` (physics check of labels), :mod:`.writer` (Jacquard files
and camera JSON), :mod:`.generate` (the deterministic, parallel, resumable generator behind
``mtg_grasp generate``). Importing any of them connects to nothing: each process makes its
own DIRECT pybullet client when it first needs one.
"""
