"""The comparison report of the study (the compare stage's library).

summary (metric files -> mean/std/n per method), ranking (did the study's FID ranking hold,
gaps vs seed spread), figures and curves (static PNGs), markdown, and comparison (writes the
whole `paths.comparison` folder). `human` (another module) adds the human preference study.
"""
