"""wb-embedder: a DVC pipeline that fine-tunes text embeddings for Russian marketplace search."""
