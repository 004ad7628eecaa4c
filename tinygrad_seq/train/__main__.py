"""Plot metrics logs side by side:
``python -m tinygrad_seq.train LOG.jsonl [LOG.jsonl ...] -o out.png``."""
from .arguments import ArgumentParser, existing_file, output_file
from .metrics import plot, read
from .errors import UsageError
from .options import exit_cleanly

PROG = "python -m tinygrad_seq.train"


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("logs", nargs="+", type=existing_file, help="metrics.jsonl files")
    parser.add_argument("-o", "--out", type=output_file, default="curves.png")
    parser.add_argument("--labels", nargs="+", default=None, help="one per log (default: engine)")
    parser.add_argument("--ylabel", default="loss (nats per character)",
                        help="the loss axis's label (the char-LM's by default)")
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.logs):
        parser.error(f"--labels: {len(args.labels)} labels for {len(args.logs)} logs")
    with exit_cleanly(PROG):
        for path in args.logs:
            check_log(path)
        try:
            plot(args.logs, args.out, args.labels, ylabel=args.ylabel)
        except OSError as e:  # save_figure's message names the file
            raise UsageError(str(e)) from None
    print(f"wrote {args.out}")


def check_log(path):
    """Refuse a file that is not a metrics log (JSON lines, each a record with a "kind")."""
    try:
        records = read(path)
    except (ValueError, OSError) as e:
        raise UsageError(f"{path} is not a metrics log ({e})") from None
    if not records:  # read() drops a last line that is not JSON: a log cut mid-write
        raise UsageError(f"{path} is not a metrics log: no JSON records in it")
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict) or "kind" not in record:
            raise UsageError(f"{path} is not a metrics log: record {number} is not a map with "
                             f"a \"kind\"")


if __name__ == "__main__":
    main()
