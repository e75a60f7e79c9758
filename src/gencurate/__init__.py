"""gencurate: for a fixed budget, which subset of my images gives the best generator?"""

__version__ = "0.1.0"
