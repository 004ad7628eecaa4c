"""The "hello" toy of a character RNN: from each letter of "hello" predict the next.

Vocabulary {h, e, l, o}; the model reads "hell" and learns to answer "ello", so that, given
"h", it writes "hello". A small tanh RNN (s_t = tanh(U x_t + W s_{t-1} + b), o_t = V s_t + c)
whose back-propagation through time comes from the graph. This is the char-LM of
models/charlm.py on the toy text; ``python -m models.demo`` is
``python -m models.charlm train --data hello``, and takes the same options.
"""
import sys

from models import charlm


def main(argv=None):
    return charlm.main(["train", "--data", "hello", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
