"""The `prepare` stage's library: sources -> decoding (images) -> cleaning -> splits -> card.

`pipeline.prepare_dataset` ties them together; `stages/prepare.py` only reads params and writes.
"""
