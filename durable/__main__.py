"""``python -m durable ...``: the same command line as the ``durable`` script."""

from ._cli.app import main

if __name__ == "__main__":
    main()
