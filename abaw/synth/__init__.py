"""Synthetic Aff-Wild2: VA trajectories, drawn faces, voices, videos and the files the stages read.

`generate(out, preset, seed, ...)` (in `abaw.synth.generator`) writes a dataset; `abaw synth` is its CLI.
"""
