"""The plotter of metrics logs, ``python -m tinygrad_seq.train LOG.jsonl [LOG.jsonl ...]``, in
parts that a model's own command line reuses (``python -m models.seq2seq plot``): the arguments
and the command, which refuses a file that is not a metrics log, or a log without the metric
asked for, by name (a UsageError: one line, exit 2).
"""
from .arguments import existing_file, output_file
from .errors import UsageError
from .metrics import plot, read


def add_arguments(parser, out="curves.png", metric="val_loss"):
    """The plotter's arguments on ``parser``, with this default output and metric."""
    parser.add_argument("logs", nargs="+", type=existing_file, help="metrics.jsonl files")
    parser.add_argument("-o", "--out", type=output_file, default=out, help=f"the PNG ({out})")
    parser.add_argument("--labels", nargs="+", default=None,
                        help="one per log (default: its engine, or its path where logs share one)")
    parser.add_argument("--metric", default=metric,
                        help=f"val_loss (with the training loss), or another metric of the "
                             f"evaluations: exact, bleu, val_acc... ({metric})")
    parser.add_argument("--ylabel", default=None,
                        help="the metric axis's label (default: the char-LM's loss, or "
                             "\"held-out METRIC\")")


def run(args):
    """Check ``args.logs`` and draw them into ``args.out``."""
    if args.labels and len(args.labels) != len(args.logs):
        raise UsageError(f"--labels: {len(args.labels)} labels for {len(args.logs)} logs")
    for path in args.logs:
        check_log(path, args.metric)
    try:
        plot(args.logs, args.out, args.labels, ylabel=args.ylabel, metric=args.metric)
    except OSError as e:  # save_figure's message names the file
        raise UsageError(str(e)) from None
    print(f"wrote {args.out}")


def check_log(path, metric="val_loss"):
    """Refuse a file that is not a metrics log (JSON lines, each a record with a "kind"), or,
    for a metric other than val_loss, a log with no evaluation of it."""
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
    if metric != "val_loss" and not any(r["kind"] == "eval" and metric in r for r in records):
        raise UsageError(f"{path} has no evaluation with {metric!r}")
