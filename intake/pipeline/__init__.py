"""The stages for stored messages: prepare (parse, extract) outside a transaction, finish (decide) in one."""
