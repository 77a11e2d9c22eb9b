"""Shipping the fine-tuned model: an ONNX export with an int8 copy, and a torch-free loader.

Deliberately empty of imports: ``wb_embedder.config`` imports :mod:`.schema`, and search code
that imports :mod:`.onnx_encoder` must not pull in torch through this package.

Modules: :mod:`.schema` (the ``export:`` params section), :mod:`.errors`, :mod:`.onnx_export`
(stage export: ONNX graph, int8 copy, tokenizer, prompts, manifest), :mod:`.onnx_encoder` (the
loader: ONNX Runtime and the ``tokenizers`` library, no torch), :mod:`.scoring` (stage
evaluate_int8: the export through the evaluation path the other systems take).
"""
