"""`gencurate rate`: a local web page for pairwise human preference votes between the study's models."""
