"""Stage 2: keep the images worth learning from: embeddings (embed.py), clusters (clusters.py),
a labelling page with active learning (session.py, app.py, query.py, classifier.py), subsets
(subset.py).

    from nonesuch.curate import embed_dataset, find_clusters, load_embeddings
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.curate.clusters": ["ClusterConfig", "Clusters", "find_clusters", "save_clusters"],
    "nonesuch.curate.embed": ["EmbedConfig", "Embeddings", "embed_dataset", "load_embeddings"],
    "nonesuch.curate.errors": ["CurateError"],
    "nonesuch.curate.importing": ["import_labels"],
    "nonesuch.curate.session": ["CurationSession"],
    "nonesuch.curate.subset": ["apply_classifier", "apply_cluster"],
})
