"""Every number of docs/models.md's "Models IV: word embeddings" section, recomputed from the
logs in docs/results/models/word2vec/ (COMMANDS.md there gives the command of each)."""
import os
import re
import statistics

from test_doc_numbers import RESULTS, assert_row, assert_says, log, printed, table

MODELS = "models.md"
W2V = "models/word2vec/"
SECTION = "Models IV"


def records(path, kind):
    return [r for r in log(W2V + path) if r["kind"] == kind]


def loads(*paths):
    values = [r["load"] for path in paths for r in records(path, "eval")]
    return [min(values), max(values)]


def test_word2vec_table_is_the_log():
    evaluations = records("wikipedia.metrics.jsonl.gz", "eval")
    t = table(MODELS, "Measured: skip-gram on the Wikipedia articles", "step")
    assert t.first_cells() == [f"{r['step']:,}" for r in evaluations]
    for r in evaluations:
        assert_row(t.row(f"{r['step']:,}", exact=True), {
            "training seconds": r["seconds"], "held-out loss, nats/pair": r["val_loss"],
            "WordSim-353 ρ": r["wordsim353"], "SimLex-999 ρ": r["simlex999"],
            "analogies right": 100 * r["analogy"], "load (1-min)": r["load"]})
    last = evaluations[-1]
    assert_says(MODELS, f"{100 * last['wordsim353_coverage']:.0f}% of WordSim-353's pairs, "
                        f"{100 * last['simlex999_coverage']:.0f}% of SimLex-999's and "
                        f"{100 * last['analogy_coverage']:.0f}% of the analogy questions")
    steps = records("wikipedia.metrics.jsonl.gz", "train")[-1]["step"]
    assert_says(MODELS, f"five minutes of wall clock ({steps:,} steps")
    (run,) = records("wikipedia.metrics.jsonl.gz", "run")
    identity = run["identity"]
    training = int(round(identity["words"] * (1 - identity["holdout"])))
    assert_says(MODELS, f"{identity['words']:,} words ({training:,} to train on)")
    assert_says(MODELS, f"a vocabulary of {run['config']['vocab_size']:,} ids")
    best = min(evaluations, key=lambda r: r["val_loss"])
    assert_says(MODELS, f"lowest at step {best['step']:,} ({best['val_loss']:.3f})")


def test_eval_printout_is_the_last_evaluation():
    last = records("wikipedia.metrics.jsonl.gz", "eval")[-1]
    rho, coverage = printed(W2V + "wikipedia.eval.txt", r"wordsim353: Spearman ([\d.]+) on (\d+)%")
    assert abs(rho - last["wordsim353"]) <= 5e-4 and abs(coverage - 100 * last["wordsim353_coverage"]) <= 0.5
    (analogy,) = printed(W2V + "wikipedia.eval.txt", r"analogies: ([\d.]+)% right")
    assert abs(analogy - 100 * last["analogy"]) <= 5e-3


def test_neighbours_quoted_are_the_eval_printout():
    with open(os.path.join(RESULTS, W2V, "wikipedia.eval.txt"), encoding="utf-8") as file:
        lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
                 for line in file if line.startswith("  ") and ":" in line}
    for word in ("music", "france", "three"):
        assert_says(MODELS, f"**{word}**: {lines[word]}")


def test_twin_tables_are_the_two_logs():
    ours, theirs = "twin/tg.metrics.jsonl.gz", "twin/torch.metrics.jsonl.gz"
    (tg_run,), (torch_run,) = records(ours, "run"), records(theirs, "run")
    assert torch_run["init_from"] and tg_run["save_init"] == torch_run["init_from"]
    assert tg_run["threads"] == torch_run["threads"] == 1
    t = table(MODELS, "Against PyTorch: the same", "step")
    pairs = list(zip(records(ours, "eval"), records(theirs, "eval")))
    assert t.first_cells() == [f"{a['step']:,}" for a, _ in pairs]
    for a, b in pairs:
        assert a["step"] == b["step"]
        assert_row(t.row(f"{a['step']:,}", exact=True), {
            "tinygrad_seq, held-out loss": a["val_loss"], "torch 2.13, held-out loss": b["val_loss"],
            "tinygrad_seq, WordSim-353 ρ": a["wordsim353"], "torch, WordSim-353 ρ": b["wordsim353"]})
    steps = list(zip(records(ours, "train"), records(theirs, "train")))
    gap = max(abs(a["loss"] - b["loss"]) for a, b in steps)
    assert_says(MODELS, f"differ by at most {gap:.0e} nats")
    speed = table(MODELS, "Against PyTorch: the same", "engine")
    identity = tg_run["identity"]
    words_per_pair = identity["words"] * (1 - identity["holdout"]) / identity["epoch_pairs"]
    rates = {}
    for engine, path in (("tinygrad_seq", ours), ("torch 2.13", theirs)):
        train = records(path, "train")
        rate = statistics.median(r["rate"] for r in train)
        rates[engine] = rate
        assert train[-1]["step"] == 1000
        assert_row(speed.row(engine), {"training seconds, 1,000 steps": train[-1]["seconds"],
                                       "pairs/s (median step)": rate,
                                       "words/s": rate * words_per_pair,
                                       "load (1-min)": loads(path)})
    assert_says(MODELS, f"{rates['tinygrad_seq'] / rates['torch 2.13']:.2f}× torch's pairs per second")


SETTINGS = {"all": "full", "10%": "small"}
INITS = {"random": "random", "pretrained, fine-tuned": "pretrained", "pretrained, frozen": "frozen"}


def sentiment_runs(setting, init):
    return [f"sentiment/{setting}-{init}-s{seed}.metrics.jsonl.gz" for seed in range(3)]


def final(path):
    return records(path, "eval")[-1]


def test_sentiment_table_is_the_three_seeds_logs():
    t = table(MODELS, "Measured: sentiment at equal training time", "training snippets")
    assert len(t.rows) == 5
    means = {}
    for row in t.rows:
        setting = SETTINGS[row[0].split(",")[0].strip()]
        init = INITS[row[1].strip()]
        paths = sentiment_runs(setting, init)
        accuracies = [100 * final(p)["val_acc"] for p in paths]
        means[setting, init] = statistics.mean(accuracies)
        for p in paths:
            (run,) = records(p, "run")
            assert run["threads"] == 1 and run["seed"] in (0, 1, 2)
            assert run["config"]["freeze_embedding"] == (init == "frozen")
            assert (run["identity"].get("embeddings") is None) == (init == "random")
        assert sorted(records(p, "run")[0]["seed"] for p in paths) == [0, 1, 2]
        assert_row(dict(zip(t.header, row)), {
            "held-out accuracy, mean ± sd": [statistics.mean(accuracies), statistics.stdev(accuracies)],
            "steps in the minute (mean)": statistics.mean(final(p)["step"] for p in paths),
            "load (1-min)": loads(*paths)})
    majority = final(sentiment_runs("full", "random")[0])["majority_acc"]
    assert_says(MODELS, f"the majority class scores {100 * majority:.1f}%")
    gain = means["full", "pretrained"] - means["full", "random"]
    assert_says(MODELS, f"changes nothing measurable ({gain:+.1f} points")
    gain = means["small", "pretrained"] - means["small", "random"]
    assert_says(MODELS, f"it helps, {gain:+.1f} points on 10%, higher than the random start in "
                        f"each of the three seeds")
    for seed in range(3):
        pretrained, random = (final(sentiment_runs("small", init)[seed])["val_acc"]
                              for init in ("pretrained", "random"))
        assert pretrained > random, seed


def coverage(setting):
    """(words with a vector, vocabulary) as a run of ``setting`` printed them."""
    with open(os.path.join(RESULTS, W2V, "sentiment", "printed.txt"), encoding="utf-8") as file:
        text = file.read()
    found = re.search(rf"=== {setting}-pretrained-s0\n--embeddings \S+: ([\d,]+) of the ([\d,]+) "
                      rf"words start from its vectors", text)
    assert found, setting
    return [int(group.replace(",", "")) for group in found.groups()]


def test_sentiment_coverage_is_what_the_runs_printed():
    (full, full_vocab), (small, small_vocab) = coverage("full"), coverage("small")
    assert full_vocab == records(sentiment_runs("full", "pretrained")[0], "run")[0]["config"]["vocab_size"]
    assert_says(MODELS, f"{full:,} of the {full_vocab:,} words have a vector ({small:,} of the "
                        f"{small_vocab:,} with 10% of the snippets)")
    assert_says(MODELS, f"but {100 * (1 - small / small_vocab):.0f}% of the small vocabulary has no vector")


def test_good_and_bad_are_what_the_command_printed():
    with open(os.path.join(RESULTS, W2V, "neighbours-good-bad-great.txt"), encoding="utf-8") as file:
        lines = {line.split(":")[0].strip(): line.split(":", 1)[1] for line in file if ":" in line}
    cosine = float(re.search(r"\bbad ([\d.]+)", lines["good"]).group(1))
    assert re.search(rf"\bgood {cosine:.2f}", lines["bad"])
    assert_says(MODELS, f"each is among the other's nearest neighbours (cosine {cosine:.2f}")
    assert lines["great"].split(",")[0].split()[0] == "britain"
