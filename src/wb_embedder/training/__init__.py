"""Fine-tuning (stage finetune): multi-task contrastive training of the base model on the triplets.

Kept free of heavy imports: ``wb_embedder.config`` imports :mod:`wb_embedder.training.schema`, and
every stage loads the config, so importing this package must not pull in torch.

Modules: ``schema`` (the ``finetune:`` params section), ``errors``, ``data`` (triplet datasets,
prompts, fingerprints), ``losses`` (label-aware in-batch-negative losses), ``adapt`` (LoRA / full /
frozen embeddings, merge for export), ``callbacks`` (DVCLive curves per optimizer step), ``checkpoints``
(resume with a params+data fingerprint), ``run`` (the training entry point), ``card`` (the model card data),
``launch`` (torchrun re-execution), ``profile`` (params profiles such as ``profiles/giga.yaml``).
"""
