"""`benchmarks run|status`: automated benchmark runs over sessions."""
