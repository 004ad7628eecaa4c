"""The PyTorch twin of models/word2vec.py: skip-gram in torch.nn on the same pairs, the same
sampled classes (or noise words) and the same evaluation, logging the harness's JSON lines, so
that the two engines' losses compare step by step and their speeds side by side.

Same batches: the twin takes the corpus, the vocabulary and every step's pairs from the model
file (``word2vec.Corpus``, ``trainer.EpochBatches`` over ``skipgram.PairEpochs``) and every
step's sampled classes or noise words from ``skipgram.draw_samples`` with the harness's per-step
generator. Same model and loss: Embedding(V, D) and an output Linear(D, V); the sampled softmax
is tg's formula written in torch (the target's logit uncorrected, the sampled ones less
log(k Q), accidental hits removed), negative sampling word2vec's logistic losses. Same initial
weights: the tg run writes its draw (``--save-init``), the twin starts from it (``--init-from``).
Same evaluation: the model file's full-softmax loss of the held-out pairs and the benchmarks.

    python -m models.word2vec train --threads 1 --steps 3000 --minutes 0 \\
        --save-init runs/w2v-cmp/init.safetensors --out runs/w2v-cmp/tg
    python benchmarks/word2vec_torch.py --threads 1 --steps 3000 \\
        --init-from runs/w2v-cmp/init.safetensors --out runs/w2v-cmp/torch
"""
import argparse
import os
import sys
import time
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # models/ lives at the root
from models import skipgram, word2vec  # noqa: E402
from tinygrad_seq.train import EpochBatches, metrics, step_random  # noqa: E402
import torch_init  # noqa: E402  (beside this file)


class SkipGram(torch.nn.Module):
    def __init__(self, vocab_size, embedding_size, loss):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embedding_size)
        self.output = torch.nn.Linear(embedding_size, vocab_size, bias=loss == "sampled-softmax")


def sampled_softmax_loss(model, hidden, contexts, classes, expected_counts):
    weight, bias = model.output.weight, model.output.bias
    true = (hidden * weight[contexts]).sum(-1, keepdim=True) + bias[contexts].unsqueeze(-1)
    sampled = hidden @ weight[classes].T + bias[classes] - torch.log(expected_counts)
    sampled = sampled.masked_fill(contexts.unsqueeze(-1) == classes, -float("inf"))
    columns = torch.cat([true, sampled], dim=-1)
    return torch.nn.functional.cross_entropy(columns, torch.zeros(len(columns), dtype=torch.long))


def negative_sampling_loss(model, hidden, contexts, noise):
    words = torch.cat([contexts.unsqueeze(-1), noise], dim=-1)
    scores = (model.output.weight[words] * hidden.unsqueeze(1)).sum(-1)
    targets = torch.zeros_like(scores)
    targets[:, 0] = 1.0
    return torch.nn.functional.binary_cross_entropy_with_logits(scores, targets, reduction="sum") / len(scores)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="wikipedia")
    parser.add_argument("--loss", choices=skipgram.LOSSES, default="sampled-softmax")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join("runs", "word2vec-torch"))
    torch_init.add_options(parser)
    args = parser.parse_args(argv)
    settings = types.SimpleNamespace(**dict(word2vec.DEFAULTS, data=args.data, loss=args.loss))
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    corpus = word2vec.Corpus(settings.data, settings.min_count, settings.max_vocab, settings.holdout)
    benchmarks = word2vec.Benchmarks()
    settings.num_sampled = min(word2vec.NUM_SAMPLED[args.loss], len(corpus.vocab) // 2)  # as train's
    torch.manual_seed(args.seed)
    model = SkipGram(len(corpus.vocab), settings.embedding_size, args.loss)
    try:
        torch_init.apply_options(model, args)
    except ValueError as e:
        parser.error(str(e))
    config = dict(vocab_size=len(corpus.vocab), embedding_size=settings.embedding_size,
                  loss=args.loss, num_sampled=settings.num_sampled)
    sampler = types.SimpleNamespace(config=config)  # what draw_samples reads of a model
    keep = skipgram.keep_probabilities(corpus.counts, settings.subsample)
    epochs = skipgram.PairEpochs(*corpus.train, keep, settings.window, settings.batch_size)
    batches, noise = EpochBatches(args.seed, epochs), skipgram.noise_distribution(corpus.counts)
    held = skipgram.epoch_pairs(*corpus.held, keep, settings.window, np.random.default_rng(0))
    held = held[:settings.eval_pairs]
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    log = metrics.MetricsLog(os.path.join(args.out, "metrics.jsonl"))
    log.write({"kind": "run", "engine": "torch", "model": "word2vec", "step": 0, "config": config,
               "seed": args.seed, "init_from": args.init_from, "lr": settings.lr, "clip": 0.0,
               "threads": torch.get_num_threads(), "torch": torch.__version__})
    print(f"torch {torch.__version__} on {torch.get_num_threads()} threads: word2vec {config}")

    def evaluation(step, seconds):
        with torch.no_grad():
            bias = None if model.output.bias is None else model.output.bias.numpy()
            vectors = model.embedding.weight.numpy()
            words, kept = word2vec.word_vectors(vectors, corpus.vocab)
            result = {"val_loss": skipgram.full_softmax_loss(vectors, model.output.weight.numpy(),
                                                            bias, *held.T),
                      **benchmarks.scores(words, kept)}
        log.write({"kind": "eval", "step": step, "seconds": round(seconds, 3), **result,
                   "load": metrics.load_average()})
        print(f"step {step:>6}  " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()), flush=True)

    step, seconds = 0, 0.0
    evaluation(0, 0.0)
    while step < args.steps:
        now = time.perf_counter()
        pairs = batches(step + 1)
        samples = skipgram.draw_samples(sampler, step_random(args.seed, step + 1), len(pairs), noise)
        hidden = model.embedding(torch.from_numpy(pairs[:, 0]))
        contexts = torch.from_numpy(pairs[:, 1])
        if args.loss == "sampled-softmax":
            loss = sampled_softmax_loss(model, hidden, contexts, torch.from_numpy(samples[0]),
                                        torch.from_numpy(samples[1]).float())
        else:
            loss = negative_sampling_loss(model, hidden, contexts, torch.from_numpy(samples))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        took = time.perf_counter() - now
        step, seconds = step + 1, seconds + took
        log.write({"kind": "train", "step": step, "seconds": round(seconds, 3),
                   "loss": loss.item(), "rate": round(len(pairs) / took, 1)})
        if step % args.eval_every == 0 or step == args.steps:
            evaluation(step, seconds)
    log.close()
    print(f"{step} steps in {seconds:.1f} s of training\n  metrics {log.path}")


if __name__ == "__main__":
    main()
