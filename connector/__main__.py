"""`python -m connector`: the `connector` command, for a machine where the console script is not
on PATH (a virtualenv not activated, a system Python with `pip install --user`)."""

from connector.cli import main

if __name__ == "__main__":
    main()
