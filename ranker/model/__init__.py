"""The PyTorch side: tokenize pairs, fine-tune the cross-encoder, score and evaluate it.
Depends on the top level and on `ranker.serve.contract` (the score definition)."""
