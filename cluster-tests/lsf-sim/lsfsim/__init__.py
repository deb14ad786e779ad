"""A simulator of IBM Spectrum LSF's bsub, bjobs, bkill, bstop, bresume and bparams for
blockorch's tests; see ../README.md."""
