"""The leakage audit (stage ``leakage``): how much of each evaluation set training has seen."""
