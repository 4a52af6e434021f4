"""Long test scenes with exact truth, composed from real footage frames.

``compose_scene(SceneSpec(duration_s=180, fps=10), out_dir, seed)`` writes a video,
its site file and its truth file; see ``occupancy/EVALUATION.md``.
"""

from occupancy.evaluation.scenes.compose import ComposedScene, SceneSpec, compose_scene, kerb_spec
from occupancy.evaluation.scenes.footage import FootageMissingError

__all__ = ["ComposedScene", "FootageMissingError", "SceneSpec", "compose_scene", "kerb_spec"]
