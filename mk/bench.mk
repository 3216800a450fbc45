# mk/bench.mk: side-by-side comparison against the peers (issue 8).
