"""Face stream: face crops -> frame features -> temporal Transformer -> per-frame valence/arousal."""
