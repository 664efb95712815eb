"""`python -m singan_seg.cli ...`: the same as the `singan-seg` command."""

from . import main

main()
