"""Similar items: content similarity (TF-IDF of title, description, brand, category) blended
with collaborative similarity (cosine of co-views and co-purchases).

Per seed item the blend trusts behaviour in proportion to how much there is of it:
    weight = interactions / (interactions + shrinkage)
so a product nobody has bought yet is matched on its content alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from relevo.recs._arrays import load_arrays, prune_rows, save_arrays, top_k_similar
from relevo.recs._seeds import best_seed, score_from_seeds, seeds_of
from relevo.recs.base import Query, Recommender, Scores
from relevo.recs.data import Interactions, ItemTable

ContentNeighbours = Callable[[ItemTable, int], sp.csr_matrix]


def content_neighbours(items: ItemTable, k: int) -> sp.csr_matrix:
    # scikit-learn is imported by fitting only: a server loads the neighbours as arrays.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts = [
        " ".join((t, t, d, b, b, c.replace(">", " "), c.replace(">", " ")))  # title, brand and
        for t, d, b, c in zip(  # category count double next to a long description
            items.titles, items.descriptions, items.brands, items.categories, strict=True
        )
    ]
    if not any(text.strip() for text in texts):
        return sp.csr_matrix((len(texts), len(texts)), dtype=np.float32)
    vectorizer = TfidfVectorizer(
        sublinear_tf=True, min_df=1, max_features=100_000, dtype=np.float32
    )
    features = normalize(vectorizer.fit_transform(texts))
    return top_k_similar(features, k)


def behaviour_neighbours(data: Interactions, k: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Cosine of people x items (binary) and each item's interaction count."""
    from sklearn.preprocessing import normalize

    matrix = sp.csr_matrix(
        (np.ones(len(data), dtype=np.float32), (data.users, data.items)),
        shape=(data.n_users, data.n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    features = normalize(sp.csr_matrix(matrix.T))
    return top_k_similar(features, k), counts


class SimilarItems(Recommender):
    name = "similar"

    def __init__(
        self,
        neighbours: int = 50,
        shrinkage: float = 20.0,
        content: ContentNeighbours | None = None,
    ) -> None:
        self.neighbours, self.shrinkage = neighbours, shrinkage
        # TF-IDF unless another text representation is given (bench/content_similarity.py
        # measures sentence embeddings this way); only used while fitting.
        self.content = content or content_neighbours
        self.related = sp.csr_matrix((0, 0), dtype=np.float32)
        self.item_ids: list[str] = []

    def fit(self, data: Interactions, items: ItemTable | None = None) -> None:
        behaviour, counts = behaviour_neighbours(data, self.neighbours)
        trust = (counts / (counts + self.shrinkage)).astype(np.float32)
        blended = sp.diags(trust) @ behaviour
        if items is not None and len(items) == data.n_items:
            content = self.content(items, self.neighbours)
            blended = blended + sp.diags(1.0 - trust) @ content
        self.related = prune_rows(sp.csr_matrix(blended), self.neighbours)
        self.item_ids = list(data.item_ids)

    def score(self, query: Query) -> Scores:
        return score_from_seeds(self.related, seeds_of(query))

    def explain(self, query: Query, item: int) -> str:
        seed = best_seed(self.related, seeds_of(query), item)
        return "similar" if seed is None else f"similar:{self.item_ids[seed]}"

    def save(self, directory: Path) -> None:
        save_arrays(
            directory,
            {"neighbours": self.neighbours, "shrinkage": self.shrinkage},
            related=self.related,
            item_ids=np.asarray(self.item_ids, dtype=np.str_),
        )

    @classmethod
    def load(cls, directory: Path) -> SimilarItems:
        params, arrays = load_arrays(directory)
        model = cls(**params)
        model.related, model.item_ids = arrays["related"], arrays["item_ids"].tolist()
        return model
