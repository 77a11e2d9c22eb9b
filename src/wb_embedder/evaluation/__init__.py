"""The 11 marketplace benchmarks: building them from the clean tables and scoring a model on them.

Deliberately empty of imports: ``wb_embedder.config`` imports :mod:`.schema`, and importing this
package must not pull in torch or sentence-transformers.

Modules: :mod:`.schema` (params sections), :mod:`.errors`, :mod:`.benchmarks` (construction and
storage), :mod:`.mteb_tasks` (the benchmarks as MTEB tasks, scored by mteb), :mod:`.embedding_cache`
(content-addressed, deduplicated encoding), :mod:`.run` (score one model: stages evaluate_base
and evaluate), :mod:`.report` (base vs fine-tuned: stage report).
"""
