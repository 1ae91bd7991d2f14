"""The store: original bytes made durable before anything else, packs of fetched mail, the read-back check."""
