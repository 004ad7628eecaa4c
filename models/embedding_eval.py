"""Judging word vectors: cosine nearest neighbours, word-similarity benchmarks (Spearman's rank
correlation with human ratings), analogies (3CosAdd: b - a + c, nearest by cosine, the three
question words excluded; Mikolov et al. 2013) and a 2-D PCA projection to plot.

Questions or pairs with a word outside the vocabulary are skipped, and the share answered is
reported beside the score (``coverage``), since a small corpus knows few of the benchmark's words.

>>> import numpy as np
>>> words = ["king", "queen", "man", "woman"]
>>> vectors = np.array([[1, 1], [1, -1], [2, 1.1], [2, -0.9]], np.float32)
>>> [w for w, _ in neighbours(words, vectors, "king", 2)]
['man', 'woman']
>>> analogy_accuracy(words, vectors, [["man", "king", "woman", "queen"]])
(1.0, 1.0)
>>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 2)
0.8
"""
import numpy as np


def unit_rows(vectors):
    """Each row scaled to length 1 (a zero row stays zero), float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def neighbours(words, vectors, word, count=10, unit=None):
    """The ``count`` words nearest to ``word`` by cosine similarity, with their similarities;
    a KeyError naming the word when it has no vector."""
    index = {w: i for i, w in enumerate(words)}
    if word not in index:
        raise KeyError(word)
    unit = unit_rows(vectors) if unit is None else unit
    similarity = unit @ unit[index[word]]
    similarity[index[word]] = -np.inf
    best = np.argsort(-similarity, kind="stable")[:count]
    return [(words[i], float(similarity[i])) for i in best]


def rank(values):
    """Ranks 1..n, ties given their mean rank (as Spearman's correlation needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of two sequences (Pearson's of their ranks)."""
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def similarity_score(words, vectors, pairs, ratings):
    """(Spearman's rho between the cosine similarities and the human ratings of the pairs
    whose words both have vectors, the share of pairs that do)."""
    index = {w: i for i, w in enumerate(words)}
    known = [i for i, (a, b) in enumerate(pairs) if a in index and b in index]
    if len(known) < 3:
        return float("nan"), len(known) / len(pairs)
    unit = unit_rows(vectors)
    cosines = [float(unit[index[pairs[i][0]]] @ unit[index[pairs[i][1]]]) for i in known]
    return spearman(cosines, np.asarray(ratings)[known]), len(known) / len(pairs)


def analogy_accuracy(words, vectors, questions, batch=512):
    """(the share of answerable questions "a : b :: c : d" whose nearest word to b - a + c,
    by cosine over unit vectors, the question's words excluded, is d; the share answerable)."""
    index = {w: i for i, w in enumerate(words)}
    known = np.array([[index[w] for w in q] for q in questions if all(w in index for w in q)],
                     dtype=np.int64).reshape(-1, 4)
    if not len(known):
        return float("nan"), 0.0
    unit = unit_rows(vectors)
    correct = 0
    for i in range(0, len(known), batch):
        a, b, c, d = known[i:i + batch].T
        scores = (unit[b] - unit[a] + unit[c]) @ unit.T
        rows = np.arange(len(a))
        for excluded in (a, b, c):
            scores[rows, excluded] = -np.inf
        correct += int((scores.argmax(axis=1) == d).sum())
    return correct / len(known), len(known) / len(questions)


def pca_2d(vectors):
    """The rows projected on their first two principal components (centred), (N, 2)."""
    centred = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T


def plot_pca(words, vectors, path, title):
    """A scatter of the words at their 2-D PCA coordinates, each labelled, saved to ``path``."""
    from tinygrad_seq.train import extras
    plt = extras.pyplot()
    points = pca_2d(vectors)
    figure, axes = plt.subplots(figsize=(11, 9))
    axes.scatter(points[:, 0], points[:, 1], s=6, color="tab:blue")
    for word, (x, y) in zip(words, points):
        axes.annotate(word, (x, y), fontsize=7, alpha=0.8, xytext=(2, 2), textcoords="offset points")
    axes.set_title(title)
    axes.set_xlabel("first principal component")
    axes.set_ylabel("second principal component")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
