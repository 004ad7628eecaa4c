"""Plot metrics logs side by side:
``python -m tinygrad_seq.train LOG.jsonl [LOG.jsonl ...] -o out.png [--metric bleu]``."""
from . import plotter
from .arguments import ArgumentParser
from .options import exit_cleanly

PROG = "python -m tinygrad_seq.train"


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__)
    plotter.add_arguments(parser)
    args = parser.parse_args(argv)
    with exit_cleanly(PROG):
        plotter.run(args)


if __name__ == "__main__":
    main()
