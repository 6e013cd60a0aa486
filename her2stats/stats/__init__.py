"""Statistics layer: one module per statistical idea, each public function dispatching on ``engine``."""
