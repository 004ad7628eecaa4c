"""The encoder-decoder of models/seq2seq.py: the module, its teacher-forced loss, greedy and beam search.

Encoder: embedding -> (Bi)LSTM or GRU over the padded batch with ``lengths=``; the context
vector ``c`` is the top layer's final state (both directions, concatenated). Decoder: embedding
-> an LSTM or GRU cell run step by step from ``h_0 = tanh(W_b c)``. Its input at step t is the
previous target token's embedding beside a context: the fixed ``c`` with ``attention="none"``,
or the attention context of the previous step (Bahdanau's input feeding). The output at step t
is ``tanh(W_o [h_t; ctx_t])`` -> Linear -> logits, with ``ctx_t = c`` or attention over the
encoder outputs with ``h_t`` as query, keys masked past each source's length.

What runs once per batch instead of once per step: the key projection of the attention
(``Attention.prepare``), the embedding's share of the decoder cell's input projection, and (under
teacher forcing) ``tanh(W_o [h_t; ctx_t])`` and the output layer over all steps, one matrix
product each.

Under teacher forcing the loop over target steps is one ``tg.scan``: its carry the decoder state
and the context fed back, its sequence the embedded target inputs (their share of the cell's
input projection), and the encoder's outputs, their mask and projection tensors the step closes
over; each step yields h_t, ctx_t and the attention weights. ``engine`` picks how it runs
("graph", "compiled" or "auto", as ``tg.scan``). Scheduled sampling, greedy decoding and beam
search read each step's argmax back into Python to choose the next input, so they keep a Python
loop over ``step``.
"""
import math

import numpy as np
import tinygrad_seq as tg
from tinygrad_seq.nn import functional as F

PAD, UNK, EOS, BOS = tg.data.Vocab.pad_id, tg.data.Vocab.unk_id, tg.data.Vocab.eos_id, tg.data.Vocab.bos_id
ENCODERS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU}
CELLS = {"lstm": tg.nn.LSTMCell, "gru": tg.nn.GRUCell}
ATTENTIONS = ("none", "additive", "dot", "general")


class Attention(tg.nn.Module):
    """tg.nn's attention layers, split in two: ``prepare(keys, mask)`` once per batch (the key
    projection), ``step(query, prepared)`` once per decoder step. Same scores as
    ``tg.nn.AdditiveAttention`` / ``DotAttention(scale=1/sqrt(H))`` / ``GeneralAttention``,
    whose parameters it holds."""

    def __init__(self, kind, size, attention_size):
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.layer = tg.nn.AdditiveAttention(size, size, attention_size)
        elif kind == "general":
            self.layer = tg.nn.GeneralAttention(size, size)
        else:
            self.layer = tg.nn.DotAttention(scale=1 / math.sqrt(size))

    def prepare(self, keys, mask):
        """keys (B, Tk, H), mask (B, Tk) bool -> what each step needs."""
        projected = self.layer.key_proj(keys) if self.kind != "dot" else keys
        return keys, projected, tg.tensor(mask, device=keys.device)

    def step(self, query, prepared):
        """query (B, H) -> context (B, H), weights (B, Tk)."""
        keys, projected, mask = prepared
        if self.kind == "additive":
            energy = (self.layer.query_proj(query).unsqueeze(1) + projected).tanh()
            scores = energy @ self.layer.v
        else:
            scores = (projected @ query.unsqueeze(-1)).squeeze(-1)
            if self.kind == "dot":
                scores = scores * self.layer.scale
        weights = F.masked_softmax(scores, mask, axis=-1)
        context = (weights.unsqueeze(1) @ keys).squeeze(1)
        return context, weights


class Seq2Seq(tg.nn.Module):
    """Source ids (Ts, B) with lengths -> logits of the target (Tt, B, V) under teacher forcing.

    ``engine`` runs the teacher-forced decoder loop ("auto", "graph" or "compiled": see
    ``tg.scan``); it is not part of ``config``, as it changes how, not what, the model computes.

    >>> model = Seq2Seq(10, 12, embedding_size=4, hidden_size=6, attention="additive")
    >>> logits = model(np.array([[4, 5], [6, 0]]), [2, 1], np.array([[3, 3], [7, 8]]))
    >>> logits.shape
    (2, 2, 12)
    """

    def __init__(self, source_size, target_size, embedding_size=64, hidden_size=128,
                 num_layers=1, cell="lstm", bidirectional=True, attention="additive",
                 attention_size=None, dropout=0.0, engine="auto"):
        super().__init__()
        if engine not in tg.loop.ENGINES:
            raise ValueError(f"Seq2Seq: engine must be one of {', '.join(map(repr, tg.loop.ENGINES))}"
                             f", got {engine!r}")
        self.engine = engine
        self.config = dict(source_size=source_size, target_size=target_size,
                           embedding_size=embedding_size, hidden_size=hidden_size,
                           num_layers=num_layers, cell=cell, bidirectional=bidirectional,
                           attention=attention, attention_size=attention_size, dropout=dropout)
        directions = 2 if bidirectional else 1
        size = self.size = hidden_size * directions  # encoder outputs = decoder state = context
        self.cell_kind, self.num_layers, self.directions = cell, num_layers, directions
        self.source_embedding = tg.nn.Embedding(source_size, embedding_size)
        self.encoder = ENCODERS[cell](embedding_size, hidden_size, num_layers,
                                      bidirectional=bidirectional)
        self.target_embedding = tg.nn.Embedding(target_size, embedding_size)
        self.bridge = tg.nn.Linear(size, size)
        self.decoder = CELLS[cell](embedding_size + size, size)
        self.attention = None if attention == "none" else Attention(attention, size,
                                                                     attention_size or size)
        self.combine = tg.nn.Linear(2 * size, size)
        self.head = tg.nn.Linear(size, target_size)
        self.drop = tg.nn.Dropout(dropout)   # on the embeddings and the decoder's outputs

    # ------------------------------------------------------------ encoder

    def encode(self, source, lengths):
        """source (Ts, B) ids, lengths (B,) -> memory: keys (B, Ts, H), c (B, H), mask (B, Ts)."""
        source = np.asarray(source)
        lengths = np.asarray(lengths, dtype=np.int64)
        device = self.head.weight.device
        embedded = self.drop(self.source_embedding(tg.tensor(source, device=device)))
        out, state = self.encoder(embedded, lengths=lengths)
        h = state[0] if isinstance(state, tuple) else state        # (layers * dirs, B, Hd)
        top = [h[-self.directions + d] for d in range(self.directions)]
        context = top[0] if len(top) == 1 else tg.concatenate(top, axis=-1)
        mask = np.arange(source.shape[0])[None, :] < lengths[:, None]
        return {"keys": out.swapaxes(0, 1), "c": context, "mask": mask}

    def start(self, memory):
        """The decoder's first state and what stays fixed over the steps of a batch."""
        h = self.bridge(memory["c"]).tanh()
        state = (h, tg.zeros_like(h)) if self.cell_kind == "lstm" else h
        prepared = None if self.attention is None else self.attention.prepare(memory["keys"], memory["mask"])
        weight_ih = self.decoder.weight_ih
        E = self.target_embedding.weight.shape[1]
        fixed = {"prepared": prepared, "w_embed": weight_ih[:, :E], "w_context": weight_ih[:, E:],
                 "bias": (self.decoder.bias_ih + self.decoder.bias_hh if self.cell_kind == "lstm"
                          else self.decoder.bias_ih), "c": memory["c"]}
        if self.attention is None:  # the context is fixed: its share of the input too
            fixed["c_proj"] = F.linear(memory["c"], fixed["w_context"], fixed["bias"])
        return state, memory["c"], fixed

    def embed_projection(self, tokens, fixed):
        """The embedding's share of the decoder cell's input projection, any leading axes."""
        device = self.head.weight.device
        embedded = self.target_embedding(tg.tensor(np.asarray(tokens), device=device))
        return F.linear(self.drop(embedded), fixed["w_embed"])

    def step(self, embed_proj, state, context, fixed):
        """One decoder step: -> (output (B, H), state, context, attention weights or None)."""
        state, context, weights = self.advance(embed_proj, state, context, fixed)
        return self.output(_top(state), context), state, context, weights

    def advance(self, embed_proj, state, context, fixed):
        """The recurrent part of a step: -> (state, context, attention weights or None)."""
        if self.attention is None:
            x_proj = embed_proj + fixed["c_proj"]
        else:
            x_proj = embed_proj + F.linear(context, fixed["w_context"], fixed["bias"])
        _, state = self.decoder.step(x_proj, state)
        if self.attention is None:
            return state, fixed["c"], None
        context, weights = self.attention.step(_top(state), fixed["prepared"])
        return state, context, weights

    def output(self, h, context):
        """``tanh(W_o [h; ctx])``, dropped out, over any leading axes: nothing feeds it back, so
        teacher forcing makes every step's at once."""
        return self.drop(self.combine(tg.concatenate([h, context], axis=-1)).tanh())

    # ------------------------------------------------------------ teacher forcing

    def decode_outputs(self, memory, inputs, sample_ratio=0.0, rng=None):
        """Decoder outputs (Tt, B, H) for the target inputs (Tt, B) (<bos> y1 y2 ...); with
        ``sample_ratio`` > 0 each step feeds, per sentence with that probability, the model's
        own previous argmax instead of the true token (scheduled sampling: a Python loop, as
        the argmax is read back to choose each input)."""
        if sample_ratio:
            return self.sampled_outputs(memory, inputs, sample_ratio, rng)
        return self.teacher_forced(memory, inputs)[0]

    def teacher_forced(self, memory, inputs):
        """Decoder outputs (Tt, B, H) and attention weights (Tt, B, Ts) (None without attention)
        for the target inputs (Tt, B): the loop over target steps is one ``tg.scan`` run by
        ``self.engine``, the weights its second output."""
        state, context, fixed = self.start(memory)
        embed_proj = self.embed_projection(inputs, fixed)       # every step's at once
        feeds_context = self.attention is not None            # else the context is fixed

        def step(carry, embed_proj_t):
            state, context = carry if feeds_context else (carry, None)
            state, context, weights = self.advance(embed_proj_t, state, context, fixed)
            return ((state, context) if feeds_context else state), (_top(state), context, weights)

        _, (hs, contexts, weights) = tg.scan(step, (state, context) if feeds_context else state,
                                             embed_proj, engine=self.engine)
        return self.output(hs, contexts), weights

    def sampled_outputs(self, memory, inputs, sample_ratio, rng):
        """Scheduled sampling: each step's input token, per sentence with probability
        ``sample_ratio``, the argmax of the previous step's output instead of the true one."""
        state, context, fixed = self.start(memory)
        inputs = np.asarray(inputs)
        outputs, previous = [], None
        for t in range(inputs.shape[0]):
            tokens = inputs[t]
            if previous is not None:
                guess = self.head(previous.detach()).numpy().argmax(-1)
                tokens = np.where(rng.random(len(tokens)) < sample_ratio, guess, tokens)
            previous, state, context, _ = self.step(self.embed_projection(tokens, fixed), state,
                                                    context, fixed)
            outputs.append(previous)
        return tg.stack(outputs, axis=0)

    def forward(self, source, lengths, inputs):
        return self.head(self.decode_outputs(self.encode(source, lengths), inputs))


def loss_of(model, batch, sampled=0, sample_ratio=0.0, rng=None, reduction="mean"):
    """Cross-entropy of the target tokens (padding weighted 0), full or sampled softmax."""
    memory = model.encode(batch["source"], batch["lengths"])
    outputs = model.decode_outputs(memory, batch["inputs"], sample_ratio, rng)
    weight = tg.tensor(batch["weights"], device=outputs.device)
    targets = tg.tensor(batch["targets"], device=outputs.device)
    if sampled:
        return F.sampled_softmax_loss(model.head.weight, model.head.bias, outputs, targets,
                                      sampled, target_weights=weight, reduction=reduction)
    return F.cross_entropy(model.head(outputs), targets, weight=weight, reduction=reduction)


# ---------------------------------------------------------------- decoding

def greedy(model, source, lengths, max_length):
    """Batched greedy decoding: (token lists without <eos>, attention (B, steps, Ts) or None)."""
    memory = model.encode(source, lengths)
    state, context, fixed = model.start(memory)
    batch = len(lengths)
    tokens = np.full(batch, BOS)
    done = np.zeros(batch, bool)
    out, attention = [], []
    for _ in range(max_length):
        output, state, context, weights = model.step(model.embed_projection(tokens, fixed),
                                                     state, context, fixed)
        tokens = np.where(done, PAD, model.head(output).numpy().argmax(-1))
        out.append(tokens)
        if weights is not None:
            attention.append(weights.numpy())
        done |= tokens == EOS
        if done.all():
            break
    return _strip(np.stack(out, 1)), (np.stack(attention, 1) if attention else None)


def beam_search(model, source, lengths, max_length, beam, alpha=1.0):
    """Batched beam search of width ``beam``: (token lists, attention of each best, or None).

    Each sentence keeps ``beam`` hypotheses, ranked by their summed log-probability; one that
    emits <eos> is frozen (it can only be extended by padding at no cost). At the end the best
    by log-probability / length**alpha (length normalisation; alpha 0: none) is chosen. With
    ``beam=1`` this is greedy decoding exactly."""
    if beam < 1:
        raise ValueError(f"beam_search: the beam width must be >= 1, got {beam}")
    memory = model.encode(source, lengths)
    B, K = len(lengths), beam
    repeat = np.repeat(np.arange(B), K)                   # row b*K + k is sentence b
    memory = {"keys": memory["keys"][repeat], "c": memory["c"][repeat], "mask": memory["mask"][repeat]}
    state, context, fixed = model.start(memory)
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0                                    # one live hypothesis to start with
    tokens = np.full(B * K, BOS)
    done = np.zeros(B * K, bool)
    lengths_out = np.zeros(B * K)
    history = np.zeros((B * K, 0), dtype=np.int64)
    attention = []
    for _ in range(max_length):
        output, state, context, weights = model.step(model.embed_projection(tokens, fixed),
                                                     state, context, fixed)
        logp = model.head(output).log_softmax(-1).numpy().astype(np.float64)   # (B*K, V)
        V = logp.shape[1]
        logp[done] = -np.inf
        logp[done, PAD] = 0.0                              # frozen: pad at no cost
        total = (scores.reshape(-1, 1) + logp).reshape(B, K * V)
        best = np.argsort(-total, axis=1, kind="stable")[:, :K]
        scores = np.take_along_axis(total, best, 1)
        parent = (np.arange(B)[:, None] * K + best // V).reshape(-1)
        tokens = (best % V).reshape(-1)
        history = np.concatenate([history[parent], tokens[:, None]], 1)
        lengths_out = lengths_out[parent] + ~done[parent]
        done = done[parent] | (tokens == EOS)
        state = tuple(s[parent] for s in state) if isinstance(state, tuple) else state[parent]
        context = context[parent]
        if weights is not None:
            attention = [a[parent] for a in attention] + [weights.numpy()[parent]]
        if done.reshape(B, K).all():
            break
    normalised = scores / np.maximum(lengths_out.reshape(B, K), 1) ** alpha
    pick = np.arange(B) * K + normalised.argmax(1)
    best_attention = np.stack(attention, 1)[pick] if attention else None
    return _strip(history[pick]), best_attention


def _top(state):
    """The decoder's output h of its state ((h, c) or h)."""
    return state[0] if isinstance(state, tuple) else state


def _strip(rows):
    """Token lists cut at the first <eos> (padding after it dropped)."""
    result = []
    for row in rows.tolist():
        result.append(row[:row.index(EOS)] if EOS in row else [t for t in row if t != PAD])
    return result
