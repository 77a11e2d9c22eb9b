"""gen_triplets: training rows per task group, negatives, and the annotation loop."""
