"""One module per sub-command: ``register(subparsers)`` adds its options, ``run(args)`` does it.

The command modules only translate between the command line and the library layers below.
"""
