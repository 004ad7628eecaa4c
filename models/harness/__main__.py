"""Plot metrics logs side by side: ``python -m models.harness LOG.jsonl [LOG.jsonl ...] -o out.png``."""
import argparse

from .metrics import plot


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m models.harness", description=__doc__)
    parser.add_argument("logs", nargs="+", help="metrics.jsonl files")
    parser.add_argument("-o", "--out", default="curves.png")
    parser.add_argument("--labels", nargs="+", default=None, help="one per log (default: engine)")
    parser.add_argument("--ylabel", default="loss (nats per character)",
                        help="the loss axis's label (the char-LM's by default)")
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.logs):
        parser.error(f"--labels: {len(args.labels)} labels for {len(args.logs)} logs")
    plot(args.logs, args.out, args.labels, ylabel=args.ylabel)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
