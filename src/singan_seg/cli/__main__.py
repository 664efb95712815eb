"""`python -m singan_seg.cli ...`: the same as the `singan-seg` command."""

from .app import main

main()
