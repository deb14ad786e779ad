"""Compatibility surfaces of other block-wise libraries (``blockorch.compat.daisy``)."""
