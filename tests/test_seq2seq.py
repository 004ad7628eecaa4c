"""The encoder-decoder (models/seq2seq.py, seq2seq_model.py): decoding, masking, batching, the
command line and its errors, and the French catalogs' loader on a fixture (nothing fetched)."""
import argparse
import io
import os
import pathlib
import sys
import zipfile

import numpy as np
import pytest

import tinygrad_seq as tg
from models import seq2seq
from tinygrad_seq import train as trainer
from tinygrad_seq.testing import assert_close
from models.data import catalogs, fetch, pins
from models.seq2seq_model import BOS, EOS, Seq2Seq, beam_search, greedy, loss_of

pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "catalog_fr.mo"
PAIRS = [("the cat sat", "le chat est assis"), ("the dog sat", "le chien est assis"),
         ("a cat ran", "un chat a couru"), ("a dog ran", "un chien a couru"),
         ("the cat ran away", "le chat s' est enfui"), ("the dog", "le chien"),
         ("a cat", "un chat"), ("the bird sang", "l' oiseau a chanté")] * 3
TINY = ["--embedding-size", "8", "--hidden-size", "8", "--batch-size", "4", "--steps", "3",
        "--minutes", "0", "--progress", "off"]


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)


def write_pairs(path, pairs):
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained 3 steps on PAIRS: (checkpoint, data file)."""
    root = tmp_path_factory.mktemp("seq2seq")
    data = write_pairs(root / "pairs.tsv", PAIRS)
    out = str(root / "run")
    seq2seq.main(["train", "--data", data, "--out", out, *TINY])
    return os.path.join(out, "checkpoint.safetensors"), data


def fails(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as stop:
        seq2seq.main(argv)
    error = capsys.readouterr().err
    assert stop.value.code == 2, error
    for fragment in fragments:
        assert fragment in error, error
    return error


def model(attention="additive", cell="lstm", seed=0):
    tg.manual_seed(seed)
    return Seq2Seq(12, 9, embedding_size=5, hidden_size=4, cell=cell, attention=attention)


SOURCE = np.array([[4, 5, 6], [7, 8, 9], [10, 0, 11], [0, 0, 4]])   # (Ts=4, B=3); padding
LENGTHS = np.array([3, 2, 4])
SOURCE[2:, 1] = 0
SOURCE[3, 0] = 0


# ---------------------------------------------------------------- decoding

@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_of_one_is_greedy(attention, cell):
    net = model(attention, cell)
    with tg.no_grad():
        g_out, g_att = greedy(net, SOURCE, LENGTHS, 7)
        b_out, b_att = beam_search(net, SOURCE, LENGTHS, 7, beam=1)
    assert g_out == b_out
    if attention != "none":
        np.testing.assert_allclose(g_att[:, :b_att.shape[1]], b_att, atol=1e-6)


def test_beam_search_finds_at_least_greedy_log_probability():
    # Every row is compared, finished or not: an untrained model's greedy decoding never ends
    # (it repeats a token), while the beam ends some rows at once. A hypothesis's score is the
    # log-probability of its tokens, and of <eos> after them where it ended (fewer than
    # max_length tokens); with alpha 0 that is what the beam ranks by.
    max_length = 6
    net = model()
    with tg.no_grad():
        g_out, _ = greedy(net, SOURCE, LENGTHS, max_length)
        b_out, _ = beam_search(net, SOURCE, LENGTHS, max_length, beam=4, alpha=0.0)

    def logp(row, tokens):
        src, n = SOURCE[:, row:row + 1], LENGTHS[row:row + 1]
        finished = len(tokens) < max_length
        inputs = np.array([BOS] + tokens[:len(tokens) - (not finished)])[:, None]
        targets = np.array(tokens + [EOS] * finished)[:, None]
        with tg.no_grad():
            return -loss_of(net, {"source": src, "lengths": n, "inputs": inputs, "targets": targets,
                                  "weights": np.ones_like(targets, np.float32)}, reduction="sum").item()
    assert len(g_out) == len(b_out) == len(LENGTHS) == 3          # every row is compared
    for row in range(len(LENGTHS)):
        assert logp(row, b_out[row]) >= logp(row, g_out[row]) - 1e-4, (row, g_out[row], b_out[row])


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
def test_masked_source_positions_get_zero_attention_and_zero_gradient(attention):
    net = model(attention)
    keys = tg.randn(3, 4, 8, requires_grad=True)
    mask = np.arange(4)[None, :] < LENGTHS[:, None]
    prepared = net.attention.prepare(keys, mask)
    context, weights = net.attention.step(tg.randn(3, 8), prepared)
    (context * tg.randn(3, 8)).sum().backward()
    w, g = weights.numpy(), keys.grad.numpy()
    assert np.all(w[~mask] == 0) and np.allclose(w.sum(-1), 1, rtol=0, atol=1e-6)  # 4 float32 terms
    assert np.all(g[~mask] == 0) and np.any(g[mask] != 0)


def test_padding_token_value_changes_nothing_and_gets_no_gradient():
    # token 1 sits only past the end of sentence 0: its embedding row must get no gradient
    source = SOURCE.copy()
    source[3, 0] = 1
    net = model()
    batch = seq2seq.make_batch([(np.array([4, 7, 10]), np.array([5, 6])),
                                (np.array([5, 8]), np.array([4])),
                                (np.array([6, 9, 0, 10]), np.array([7, 8, 5]))])
    batch["source"] = source
    loss_of(net, batch).backward()
    assert np.all(net.source_embedding.weight.grad.numpy()[1] == 0)
    assert np.any(net.source_embedding.weight.grad.numpy()[4] != 0)


def test_teacher_forced_batch_equals_each_sentence_alone():
    net = model("additive")
    pairs = [(np.array([4, 5, 6]), np.array([5, 6, 7, 8])), (np.array([7, 8]), np.array([4])),
             (np.array([9, 10, 11, 4, 5]), np.array([6, 7]))]
    batch = seq2seq.make_batch(pairs)
    with tg.no_grad():
        together = net(batch["source"], batch["lengths"], batch["inputs"]).numpy()
        for b, pair in enumerate(pairs):
            alone = seq2seq.make_batch([pair])
            logits = net(alone["source"], alone["lengths"], alone["inputs"]).numpy()
            steps = len(pair[1]) + 1
            # float32 in another batch shape: encoder steps of 5 + 4 products each way, then
            # decoder steps of about 70 (cell 13 + 8, attention, combine 16, head 8)
            terms = len(pair[0]) * (5 + 4) + steps * 70
            assert_close(together[:steps, b], logits[:, 0], terms=terms)
        outs, _ = greedy(net, batch["source"], batch["lengths"], 6)
        for b, pair in enumerate(pairs):
            alone, _ = greedy(net, pair[0][:, None], [len(pair[0])], 6)
            assert outs[b] == alone[0]


def test_key_projection_runs_once_per_batch(monkeypatch):
    net = model("additive")
    calls = []
    original = net.attention.layer.key_proj.forward
    monkeypatch.setattr(net.attention.layer.key_proj, "forward",
                        lambda x: calls.append(x.shape) or original(x))
    batch = seq2seq.make_batch([(np.array([4, 5, 6]), np.array([5, 6, 7, 8, 4, 5]))])
    loss_of(net, batch)
    assert len(calls) == 1
    with tg.no_grad():
        greedy(net, SOURCE, LENGTHS, 8)
    assert len(calls) == 2


# ---------------------------------------------------------------- the decoder loop's engines

PADDED = [(np.array([4, 5, 6]), np.array([5, 6, 7, 8])), (np.array([7, 8]), np.array([4])),
          (np.array([9, 10, 11, 4, 5]), np.array([6, 7]))]   # three source and target lengths


def loss_and_gradients(engine, cell, attention, dropout=0.0):
    """The float64 teacher-forced loss of a padded batch, and every parameter's gradient."""
    tg.manual_seed(0)
    net = Seq2Seq(12, 9, embedding_size=5, hidden_size=4, cell=cell, attention=attention,
                  dropout=dropout, engine=engine).double()
    tg.manual_seed(1)  # the same dropout draws under each engine
    loss = loss_of(net, seq2seq.make_batch(PADDED))
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in net.named_parameters()}


def assert_same_run(actual, expected):
    """Two engines' (loss, gradients), equal up to float64 rounding: relative 1e-10, and near
    zero (where terms cancel) 1e-12 of the parameter's largest gradient."""
    (loss, grads), (ref_loss, ref_grads) = actual, expected
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, atol=0)
    assert grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        np.testing.assert_allclose(grads[name], ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max(),
                                   err_msg=name)


@pytest.mark.parametrize("cell, attention", [("lstm", "additive"), ("gru", "additive"),
                                             ("lstm", "dot"), ("gru", "general"),
                                             ("lstm", "none"), ("gru", "none")])
def test_compiled_decoder_loop_equals_the_graph(cell, attention):
    # engine="compiled" raises if the step cannot be recorded: no silent fallback to graph
    assert_same_run(loss_and_gradients("compiled", cell, attention),
                    loss_and_gradients("graph", cell, attention))


def test_compiled_decoder_loop_with_dropout_equals_the_graph():
    assert_same_run(loss_and_gradients("compiled", "lstm", "additive", dropout=0.3),
                    loss_and_gradients("graph", "lstm", "additive", dropout=0.3))


@pytest.mark.parametrize("engine", ["compiled", "graph"])
def test_teacher_forcing_equals_the_decoder_stepped_by_hand(engine):
    """The scan, with every step's output made after the loop, computes what calling ``step``
    once per target step computes, dropout draws included (float64)."""
    tg.manual_seed(0)
    net = Seq2Seq(12, 9, embedding_size=5, hidden_size=4, dropout=0.3, engine=engine).double()
    batch = seq2seq.make_batch(PADDED)
    tg.manual_seed(1)
    scanned = net.decode_outputs(net.encode(batch["source"], batch["lengths"]), batch["inputs"])
    tg.manual_seed(1)
    state, context, fixed = net.start(net.encode(batch["source"], batch["lengths"]))
    by_hand = []
    for embed_proj in net.embed_projection(batch["inputs"], fixed).unbind(0):
        output, state, context, _ = net.step(embed_proj, state, context, fixed)
        by_hand.append(output.numpy())
    assert (np.stack(by_hand) == 0).any()  # dropout was on
    np.testing.assert_allclose(scanned.numpy(), np.stack(by_hand), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_teacher_forced_attention_is_greedy_attention_on_its_own_outputs(attention):
    """Fed greedy decoding's own tokens, the teacher-forced loop (the scan's second output)
    gives each step greedy's attention weights."""
    net = model(attention)
    with tg.no_grad():
        outs, attention_of_greedy = greedy(net, SOURCE, LENGTHS, 5)
        steps = max(len(out) for out in outs) + 1
        inputs = np.zeros((steps, len(outs)), dtype=np.int64)
        inputs[0] = BOS
        for b, out in enumerate(outs):
            inputs[1:len(out) + 1, b] = out
        _, weights = net.teacher_forced(net.encode(SOURCE, LENGTHS), inputs)
    assert weights.shape == (steps, 3, SOURCE.shape[0])
    for b, out in enumerate(outs):
        shown = min(len(out) + 1, attention_of_greedy.shape[1])  # its tokens and <eos>, if any
        # float32, all steps at once against one by one: each weight is a softmax of scores
        # made by about 40 products (cell 13 + 8, attention 8 + 8) on the way
        assert_close(weights.numpy()[:shown, b], attention_of_greedy[b, :shown], terms=40 * shown)


def test_engine_must_be_known():
    with pytest.raises(ValueError, match="engine must be one of .*'fused'"):
        Seq2Seq(12, 9, embedding_size=5, hidden_size=4, engine="fused")


def test_the_batch_of_a_step_is_the_same_in_a_resumed_run(tmp_path):
    """A task built afresh, as --resume builds it, gives step k the batch that the unbroken run
    gave it: the batches are a function of (seed, step), within an epoch and across epochs."""
    corpus = seq2seq.Corpus(write_pairs(tmp_path / "p.tsv", PAIRS))
    args = argparse.Namespace(seed=3, batch_size=4, bucket_width=2)
    net = model()
    unbroken = seq2seq.Task(net, corpus, args)
    lengths = [len(source) for source, _ in corpus.train]
    per_epoch = len(list(tg.data.bucket_batches(lengths, args.batch_size, args.bucket_width)))
    seen = [unbroken.batch_of(step) for step in range(1, 3 * per_epoch + 1)]
    for step in (2, per_epoch, per_epoch + 1, 2 * per_epoch + 3):
        resumed = seq2seq.Task(net, corpus, args).batch_of(step)
        assert resumed.keys() == seen[step - 1].keys()
        for key, value in resumed.items():
            np.testing.assert_array_equal(value, seen[step - 1][key], err_msg=f"{key} of {step}")
    sources = [tuple(map(tuple, batch["source"].T)) for batch in seen]
    assert len(set(sources)) > per_epoch  # not one epoch's order over and over
    other = seq2seq.Task(net, corpus, argparse.Namespace(**{**vars(args), "seed": 4}))
    assert [tuple(map(tuple, other.batch_of(step)["source"].T))
            for step in range(1, per_epoch + 1)] != sources[:per_epoch]


def test_resume_continues_the_uninterrupted_run_exactly(tmp_path, capsys):
    data = write_pairs(tmp_path / "p.tsv", PAIRS)
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    tiny = [*TINY[:TINY.index("--steps")], "--minutes", "0", "--progress", "off",
            "--eval-every", "100"]
    seq2seq.main(["train", "--data", data, "--out", whole, *tiny, "--steps", "9"])
    seq2seq.main(["train", "--data", data, "--out", cut, *tiny, "--steps", "4"])
    seq2seq.main(["train", "--data", data, "--out", cut, *tiny, "--steps", "9", "--resume"])
    logs = [trainer.metrics.read(os.path.join(out, "metrics.jsonl")) for out in (whole, cut)]
    losses = [[(r["step"], r["loss"]) for r in log if r["kind"] == "train"] for log in logs]
    assert losses[0] == losses[1] and len(losses[0]) == 9  # past the first epoch of 6 batches


def test_sampled_softmax_and_scheduled_sampling_train(tmp_path, capsys):
    data = write_pairs(tmp_path / "p.tsv", PAIRS)
    result = seq2seq.main(["train", "--data", data, "--out", str(tmp_path / "r"), *TINY,
                           "--sampled-softmax", "5", "--sample-ratio", "0.5", "--reverse-source"])
    assert result["step"] == 3 and np.isfinite(result["val_loss"])


# ---------------------------------------------------------------- the command line

def test_smoke_run_on_dates(tmp_path, capsys):
    result = seq2seq.main(["train", "--smoke", "--out", str(tmp_path), "--progress", "off"])
    assert result["step"] == 3 and {"exact", "bleu"} <= set(result)
    for name in ("checkpoint.safetensors", "metrics.jsonl", "curves.png"):
        assert os.path.getsize(tmp_path / name) > 0


def test_help_of_each_command(capsys):
    for command in ("train", "eval", "translate"):
        with pytest.raises(SystemExit) as stop:
            seq2seq.main([command, "--help"])
        assert stop.value.code == 0
    assert "--beam" in capsys.readouterr().out


def test_eval_greedy_and_beam(trained, capsys):
    checkpoint, data = trained
    greedy_result = seq2seq.main(["eval", "--checkpoint", checkpoint, "--data", data])
    beam_result = seq2seq.main(["eval", "--checkpoint", checkpoint, "--data", data, "--beam", "3"])
    assert 0 <= greedy_result["bleu"] <= 1 and 0 <= beam_result["exact"] <= 1


def test_eval_compare_gives_the_paired_bootstrap_of_two_checkpoints(trained, capsys):
    checkpoint, data = trained
    result = seq2seq.main(["eval", "--checkpoint", checkpoint, "--data", data, "--compare", checkpoint,
                           "--bootstrap-samples", "40"])
    boot = result["compare"]
    assert boot["bleu_a"] == boot["bleu_b"] == result["bleu"] and boot["samples"] == 40
    assert boot["ties"] == 1.0 and boot["interval_difference"] == (0.0, 0.0)
    assert "ahead in 0.0% of 40 paired bootstrap resamples (ties 100.0%)" in capsys.readouterr().out


def translate(monkeypatch, argv, text):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    return seq2seq.main(["translate", *argv])


def test_translate_unknown_words_and_a_long_source(trained, monkeypatch, capsys, tmp_path):
    checkpoint, _ = trained
    png = str(tmp_path / "map.png")
    out = translate(monkeypatch, ["--checkpoint", checkpoint, "--heatmap", png],
                    "the cat sat\nzebra quux\n" + "the cat " * 10 + "\n")
    err = capsys.readouterr().err
    assert len(out) == 3
    assert "2 of 2 tokens are not in the training vocabulary" in err and "<unk>" in err
    assert "longer than any source seen in training" in err
    assert os.path.getsize(png) > 0


def test_translate_refuses_an_empty_sentence(trained, monkeypatch, capsys):
    checkpoint, _ = trained
    monkeypatch.setattr(sys, "stdin", io.StringIO("the cat\n   \n"))
    fails(capsys, ["translate", "--checkpoint", checkpoint], "line 2 of the input is empty")


def test_beam_zero_is_refused(trained, capsys):
    fails(capsys, ["eval", "--checkpoint", trained[0], "--beam", "0"], "--beam", ">= 1")


def test_checkpoint_of_another_vocabulary_is_refused(trained, tmp_path, capsys):
    other = write_pairs(tmp_path / "other.tsv", [("un deux", "one two"), ("trois", "three")] * 5)
    fails(capsys, ["eval", "--checkpoint", trained[0], "--data", other],
          "trained on other data", "source_vocab")


def test_sampled_softmax_larger_than_the_vocabulary_is_refused(tmp_path, capsys):
    data = write_pairs(tmp_path / "p.tsv", PAIRS)
    fails(capsys, ["train", "--data", data, "--out", str(tmp_path / "r"), *TINY,
                   "--sampled-softmax", "500"], "--sampled-softmax 500", "vocabulary")
    assert not os.path.exists(tmp_path / "r")


def test_beam_search_refuses_width_zero():
    with pytest.raises(ValueError, match="beam width"):
        beam_search(model(), SOURCE, LENGTHS, 4, beam=0)


# ---------------------------------------------------------------- the French catalogs

def test_catalog_pairs_keep_short_singular_messages():
    pairs = catalogs.catalog_pairs(FIXTURE.read_bytes())
    assert ("Save", "Enregistrer") in pairs and ("Log out", "Déconnexion") in pairs
    english = [e for e, _ in pairs]
    assert len(pairs) == 7                      # no header, plural, context, empty or long message
    assert not any("\x04" in e or "item" in e or "too many" in e or e == "Untranslated"
                   for e in english)


def test_load_messages_through_the_pinned_fetch_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_SEQ_DATA", str(tmp_path))
    monkeypatch.setattr(fetch, "_installed_copy", lambda member: None)
    monkeypatch.setattr(fetch, "PIP", ("false",))   # a fetch would fail loudly
    data = FIXTURE.read_bytes()
    for package, name in ((pins.DJANGO, "DJANGO_FR_MEMBERS"), (pins.SPHINX, "SPHINX_FR_MEMBERS"),
                          (pins.WAGTAIL, "WAGTAIL_FR_MEMBERS")):
        member = f"{package.name.lower()}/locale/fr/LC_MESSAGES/fixture.mo"
        folder = fetch.archive_dir(package)
        folder.mkdir(parents=True)
        with zipfile.ZipFile(folder / f"{package.name}-{package.version}-py3-none-any.whl", "w") as z:
            z.writestr(member, data)
        monkeypatch.setattr(pins, name, {member: fetch.sha256_of(data)})
    train, test = catalogs.load_messages()
    assert len(train) + len(test) == 7 and len(test) == 1   # deduplicated across the three
    assert not {e for e, _ in train} & {e for e, _ in test}


def test_plot_of_two_runs(trained, tmp_path, capsys):
    log = os.path.join(os.path.dirname(trained[0]), "metrics.jsonl")
    seq2seq.main(["plot", log, log, "--labels", "a", "b", "--metric", "bleu",
                  "-o", str(tmp_path / "both.png")])
    assert os.path.getsize(tmp_path / "both.png") > 0
    fails(capsys, ["plot", log, "--metric", "nonesuch", "-o", str(tmp_path / "x.png")], "nonesuch")
