"""Neural device cost models of ``table-sharding@1`` calibrated on real EmbeddingBag timings
(:mod:`surrogates.shardcost.measure`, :mod:`surrogates.shardcost.fit`,
:mod:`surrogates.shardcost.trainer`)."""
