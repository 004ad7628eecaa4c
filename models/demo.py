"""The "hello" toy of a character RNN: a tanh RNN learns to continue "hello" one character at a time.

Vocabulary {h, e, l, o}; input "hell", target "ello". The cell is written from primitive ops
(s_t = tanh(U x_t + W s_{t-1} + b), o_t = V s_t + c), so backpropagation through time comes
from the graph. Run with ``python -m models.demo``.
"""
import argparse

import tinygrad_seq as tg

VOCAB = "helo"


def encode(text):
    return tg.tensor([VOCAB.index(ch) for ch in text])


def run(steps=300, hidden_size=16, lr=0.1, seed=0, log_every=30):
    tg.manual_seed(seed)
    vocab_size = len(VOCAB)
    scale = 1.0 / hidden_size ** 0.5
    params = {
        "U": (tg.randn(hidden_size, vocab_size) * scale).requires_grad_(),
        "W": (tg.randn(hidden_size, hidden_size) * scale).requires_grad_(),
        "b": tg.zeros(hidden_size, requires_grad=True),
        "V": (tg.randn(vocab_size, hidden_size) * scale).requires_grad_(),
        "c": tg.zeros(vocab_size, requires_grad=True),
    }
    inputs = tg.one_hot(encode("hell"), vocab_size)          # (T, vocab)
    targets = encode("ello")
    losses = []
    for step in range(steps + 1):
        state = tg.zeros(hidden_size)
        logits = []
        for x_t in inputs.unbind(0):
            state = (params["U"] @ x_t + params["W"] @ state + params["b"]).tanh()
            logits.append(params["V"] @ state + params["c"])
        log_probs = tg.stack(logits).log_softmax(-1)
        loss = -log_probs.gather(1, targets.reshape(-1, 1)).sum()   # sum of per-step losses
        for p in params.values():
            p.grad = None
        loss.backward()
        with tg.no_grad():
            for name, p in params.items():
                params[name] = (p - lr * p.grad).requires_grad_()
        losses.append(loss.item())
        if step % log_every == 0:
            guess = "".join(VOCAB[i] for i in log_probs.argmax(-1).tolist())
            print(f"step {step:4d}  loss {loss.item():.4f}  'hell' -> 'h{guess}'")
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    losses = run(args.steps, args.hidden_size, args.lr, args.seed)
    print(f"loss fell from {losses[0]:.4f} to {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
